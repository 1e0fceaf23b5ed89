-- Sample schema for the demo and the tests: customers with personal data, and orders.
CREATE TABLE customers (
  id         serial PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL,
  ssn        text NOT NULL,
  card       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  amount      numeric(10, 2) NOT NULL,
  status      text NOT NULL DEFAULT 'new',
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, ssn, card) VALUES
  ('Ada Lovelace',    'ada@example.com',    '123-45-6789', '4111 1111 1111 1111'),
  ('Alan Turing',     'alan@example.com',   '987-65-4321', '5500 0000 0000 0004'),
  ('Grace Hopper',    'grace@example.com',  '555-12-3456', '3400 0000 0000 009'),
  ('Edsger Dijkstra', 'edsger@example.com', '222-33-4444', '6011 0000 0000 0004');
INSERT INTO orders (customer_id, amount, status)
  SELECT 1 + (g % 4), (g * 7.5)::numeric(10, 2), CASE WHEN g % 3 = 0 THEN 'shipped' ELSE 'new' END
  FROM generate_series(1, 200) AS g;
