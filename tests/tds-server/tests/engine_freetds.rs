//! FreeTDS's `tsql` against the SQL engine: a seeded table read back with non-ASCII text,
//! decimals and NULLs, and an error as tsql reports it.

mod wire_support;

use wire_support::*;

const ALL_TYPES: &str = include_str!("seed/all_types.sql");

#[test]
fn engine_freetds_tsql_selects_from_a_seeded_table() {
    if !tsql_available() {
        return;
    }
    let server = start_engine(Some(ALL_TYPES), Some("votes=100"));
    let (out, err) = tsql(
        server.addr(),
        PASSWORD,
        "off",
        Some("typedb"),
        "SELECT OrderId, Region, Customer, Amount, CAST(Price AS decimal(19,4)) AS Price FROM sales.Orders ORDER BY OrderId",
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("OrderId\tRegion\tCustomer\tAmount\tPrice"),
        "{all}"
    );
    assert!(out.contains("100\tEU\tÅsa\t10.50\t1.2345"), "{all}");
    assert!(out.contains("110\tEU\tChloé\t5.00\tNULL"), "{all}");
    assert!(out.contains("115\tAP\tNULL\t7.75\t0.5000"), "{all}");
    assert!(out.contains("(4 rows affected)"), "{all}");

    // tds_fdw's statements, over TLS this time; generated tables go to the seeded database.
    let (out, err) = tsql(
        server.addr(),
        PASSWORD,
        "require",
        Some("typedb"),
        "set textsize 2147483647\nSELECT [id], [c_nvarchar] FROM [dbo].[AllTypes] WHERE (([id] = 2))\nSELECT COUNT(*) FROM dbo.Votes",
    );
    let all = format!("stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("2\tGrüße 😀 𝄞"), "{all}");
    assert!(out.contains("\n100\n"), "{all}");

    let (out, err) = tsql(
        server.addr(),
        PASSWORD,
        "off",
        Some("typedb"),
        "SELECT * FROM dbo.Nope",
    );
    let all = format!("{out}\n{err}");
    assert!(all.contains("Invalid object name 'dbo.Nope'"), "{all}");
}
