-- Objects the policy corpus refers to, created by the gateway's role on top of examples/shop.sql.
CREATE VIEW customer_contacts AS SELECT name, email, ssn FROM customers;
CREATE TABLE events (id int, kind text, payload text) PARTITION BY LIST (kind);
CREATE TABLE events_login PARTITION OF events FOR VALUES IN ('login');
INSERT INTO events VALUES (1, 'login', 'first');
CREATE SEQUENCE ticket_seq;
CREATE TABLE audit_probe (x int);
CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS 'INSERT INTO audit_probe VALUES (1) RETURNING 1';
CREATE TABLE "Mixed Case" ("Value" int);
INSERT INTO "Mixed Case" VALUES (1);
