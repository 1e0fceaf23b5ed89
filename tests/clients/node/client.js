// node-postgres client for the integration tests: simple and parameterised queries (the
// latter use the extended protocol), a named prepared statement, a transaction, and an error.
const { Client } = require('pg');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const c = new Client({ host, port: Number(port), user, password, database });
  await c.connect();
  const out = {};
  out.simple = (await c.query('select count(*)::int as n from customers')).rows[0].n;
  out.param = (await c.query('select name from customers where id = $1', [2])).rows[0].name;
  const named = { name: 'amount-by-id', text: 'select amount from orders where id = $1' };
  out.named = [];
  for (const id of [1, 2, 3]) out.named.push((await c.query({ ...named, values: [id] })).rows[0].amount);
  await c.query('begin');
  await c.query('create temp table node_t(a int)');
  await c.query('insert into node_t select generate_series(1, 10)');
  out.tx = (await c.query('select sum(a)::int as s from node_t')).rows[0].s;
  await c.query('rollback');
  try {
    await c.query('select * from no_such_table');
  } catch (e) {
    out.error = e.code;
  }
  out.after = (await c.query('select 42 as x')).rows[0].x;
  await c.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error('FAILED', e.message, e.code || '');
  process.exit(1);
});
