-- Every SQL Server type the test server has, with edge values; used by the engine's unit
-- tests and the tiberius/tsql round trips.
CREATE DATABASE typedb
GO
USE typedb
GO
CREATE SCHEMA sales
GO
CREATE TABLE dbo.AllTypes (
    id int NOT NULL,
    c_bit bit NULL,
    c_tinyint tinyint NULL,
    c_smallint smallint NULL,
    c_int int NULL,
    c_bigint bigint NULL,
    c_dec38 decimal(38, 38) NULL,
    c_dec decimal(38, 6) NULL,
    c_num numeric(10, 2) NULL,
    c_money money NULL,
    c_smallmoney smallmoney NULL,
    c_real real NULL,
    c_float float NULL,
    c_date date NULL,
    c_time time(7) NULL,
    c_time0 time(0) NULL,
    c_sdt smalldatetime NULL,
    c_dt datetime NULL,
    c_dt2 datetime2(7) NULL,
    c_dt2_3 datetime2(3) NULL,
    c_dto datetimeoffset(7) NULL,
    c_char char(5) NULL,
    c_varchar varchar(20) NULL,
    c_vmax varchar(max) NULL,
    c_nchar nchar(5) NULL,
    c_nvarchar nvarchar(20) NULL,
    c_nmax nvarchar(max) NULL,
    c_text text NULL,
    c_ntext ntext NULL,
    c_binary binary(4) NULL,
    c_varbinary varbinary(20) NULL,
    c_vbmax varbinary(max) NULL,
    c_image image NULL,
    c_guid uniqueidentifier NULL,
    c_xml xml NULL,
    c_rv rowversion,
    CONSTRAINT PK_AllTypes PRIMARY KEY CLUSTERED (id)
)
GO
-- Row 1: minimums and low edges.
INSERT INTO dbo.AllTypes (id, c_bit, c_tinyint, c_smallint, c_int, c_bigint, c_dec38, c_dec, c_num,
    c_money, c_smallmoney, c_real, c_float, c_date, c_time, c_time0, c_sdt, c_dt, c_dt2, c_dt2_3, c_dto,
    c_char, c_varchar, c_vmax, c_nchar, c_nvarchar, c_nmax, c_text, c_ntext, c_binary, c_varbinary,
    c_vbmax, c_image, c_guid, c_xml)
VALUES (1, 0, 0, -32768, -2147483648, -9223372036854775808,
    -0.99999999999999999999999999999999999999, -99999999999999999999999999999999.999999, -99999999.99,
    -922337203685477.5808, -214748.3648, -3.4e38, -1.79e308,
    '0001-01-01', '00:00:00', '00:00:00', '1900-01-01 00:00', '1753-01-01 00:00:00.000',
    '0001-01-01 00:00:00.0000000', '0001-01-01 00:00:00.000', '0001-01-01 14:00:00.0000000 +14:00',
    'a', '', '', N'ä', N'', N'', 'text', N'ntext', 0x00, 0x, 0x, 0x00,
    '00000000-0000-0000-0000-000000000000', N'<a/>')
-- Row 2: maximums and high edges.
INSERT INTO dbo.AllTypes (id, c_bit, c_tinyint, c_smallint, c_int, c_bigint, c_dec38, c_dec, c_num,
    c_money, c_smallmoney, c_real, c_float, c_date, c_time, c_time0, c_sdt, c_dt, c_dt2, c_dt2_3, c_dto,
    c_char, c_varchar, c_vmax, c_nchar, c_nvarchar, c_nmax, c_text, c_ntext, c_binary, c_varbinary,
    c_vbmax, c_image, c_guid, c_xml)
VALUES (2, 1, 255, 32767, 2147483647, 9223372036854775807,
    0.99999999999999999999999999999999999999, 99999999999999999999999999999999.999999, 99999999.99,
    922337203685477.5807, 214748.3647, 3.4e38, 1.79e308,
    '9999-12-31', '23:59:59.9999999', '23:59:59', '2079-06-06 23:59', '9999-12-31 23:59:59.997',
    '9999-12-31 23:59:59.9999999', '9999-12-31 23:59:59.999', '9999-12-31 09:59:59.9999999 -14:00',
    'abcde', 'café ☕', REPLICATE(CAST('x' AS varchar(max)), 9000), N'😀é', N'Grüße 😀 𝄞', N'日本語テキスト😀', 'naïve', N'ntext 😀',
    0xDEADBEEF, 0x00FF10, 0xCAFE, 0xBEEF,
    '6F9619FF-8B86-D011-B42D-00C04FC964FF', N'<root a="1">x</root>')
-- Row 3: datetime 1/300 s ticks, fractional seconds, offsets, and NULLs elsewhere.
INSERT INTO dbo.AllTypes (id, c_dt, c_dt2, c_dto, c_time, c_dec38, c_money, c_smallmoney)
VALUES (3, '2024-02-29 12:34:56.997', '2024-02-29 12:34:56.1234567', '2024-02-29 12:34:56.1234567 +05:30',
    '12:34:56.1234567', 0.00000000000000000000000000000000000001, 0.0001, 1.5)
INSERT INTO dbo.AllTypes (id, c_dt) VALUES (4, '2024-02-29 12:34:56.993'), (5, '2024-02-29 12:34:56.990'),
    (6, '2024-02-29 12:34:56.998'), (7, '2024-02-29 12:34:56.999'), (8, '2024-02-29 12:34:56.001')
INSERT INTO dbo.AllTypes (id) VALUES (9)
GO
CREATE TABLE sales.Orders (
    OrderId int IDENTITY(100, 5) NOT NULL PRIMARY KEY,
    Region char(2) NOT NULL,
    Customer nvarchar(50) NULL,
    Amount decimal(12, 2) NOT NULL DEFAULT 0,
    Price money NULL,
    Placed datetime2(3) NOT NULL,
    Total AS (Amount * 2),
    CONSTRAINT UQ_Orders_Customer UNIQUE (Customer)
)
GO
INSERT INTO sales.Orders (Region, Customer, Amount, Price, Placed) VALUES
    ('EU', N'Åsa', 10.50, 1.2345, '2024-01-01 10:00:00'),
    ('US', N'Bob', 20.25, 99.99, '2024-01-02 11:00:00'),
    ('EU', N'Chloé', 5.00, NULL, '2024-01-03 12:00:00'),
    ('AP', NULL, 7.75, 0.5, '2024-01-04 13:00:00')
GO
CREATE TABLE dbo.Composite (a int NOT NULL, b nvarchar(10) NOT NULL, v int NULL, PRIMARY KEY (a, b))
INSERT INTO dbo.Composite VALUES (2, N'x', 1), (1, N'b', 2), (1, N'a', 3)
GO
