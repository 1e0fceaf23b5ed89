// JDBC client for the integration tests: simple statements, a prepared statement executed
// enough times for the driver to switch to a named server-side statement, a batch, and a
// transaction. Prints one line per check; exits non-zero on any failure.
import java.sql.*;

public class JdbcClient {
  public static void main(String[] args) throws Exception {
    String url = args[0], user = args[1], password = args[2];
    try (Connection c = DriverManager.getConnection(url, user, password)) {
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select count(*) from orders")) {
        r.next();
        System.out.println("orders=" + r.getLong(1));
      }
      long sum = 0;
      // prepareThreshold defaults to 5: later executions use a named server-side statement.
      try (PreparedStatement p = c.prepareStatement("select amount from orders where id = ?")) {
        for (int i = 1; i <= 10; i++) {
          p.setInt(1, i);
          try (ResultSet r = p.executeQuery()) {
            r.next();
            sum += r.getBigDecimal(1).movePointRight(2).longValueExact();
          }
        }
      }
      System.out.println("sum_cents=" + sum);
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute("create temp table jdbc_t(a int)");
        try (PreparedStatement p = c.prepareStatement("insert into jdbc_t values (?)")) {
          for (int i = 0; i < 50; i++) {
            p.setInt(1, i);
            p.addBatch();
          }
          p.executeBatch();
        }
        try (ResultSet r = s.executeQuery("select count(*), sum(a) from jdbc_t")) {
          r.next();
          System.out.println("batch=" + r.getLong(1) + "," + r.getLong(2));
        }
      }
      c.rollback();
      c.setAutoCommit(true);
      try (Statement s = c.createStatement()) {
        s.execute("select 1/0");
      } catch (SQLException e) {
        System.out.println("error_state=" + e.getSQLState());
      }
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select 'still ok'")) {
        r.next();
        System.out.println("after_error=" + r.getString(1));
      }
    }
  }
}
