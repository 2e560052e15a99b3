//! The one adapter between PostgreSQL's column types and [`Value`]: what makes a query written
//! for SQLite read the same on PostgreSQL. Each cell is converted to what SQLite gives for the
//! same column of MUTT's schema, and each parameter to the type PostgreSQL inferred for its
//! placeholder.
//!
//! | PostgreSQL | Value | why |
//! |---|---|---|
//! | `int2`, `int4`, `int8`, `oid` | Integer | |
//! | `boolean` | Integer 0 / 1 | SQLite stores flags as integers |
//! | `float4`, `float8` | Real | |
//! | `text`, `varchar`, `char`, `name` | Text | |
//! | `json`, `jsonb` | Text | SQLite stores JSON as text (jsonb comes back in its own spacing) |
//! | `bytea` | Blob | |
//! | `timestamptz`, `timestamp` | Text `2026-11-27T03:43:02.123456Z` | the text SQLite stores (microseconds, `Z`), so times sort and compare as text alike |
//!
//! Parameters go the other way by the placeholder's type: Integer to `int2`/`int4`/`int8`
//! (range-checked) or `boolean` (non-zero is true), Text to the text types, to `json`/`jsonb`
//! as is, and to `timestamptz` parsed as RFC 3339, Blob to `bytea`, NULL to anything. Anything
//! else is an error naming both types, never a silent guess.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use postgres::types::{FromSql, IsNull, ToSql, Type};

use crate::value::Value;

type BoxError = Box<dyn Error + Sync + Send>;

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix microseconds.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// One PostgreSQL cell as a [`Value`].
#[derive(Debug)]
pub struct Cell(pub Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        let v = match *ty {
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => match raw.split_first() {
                // jsonb's binary form is a version byte, then the text.
                Some((1, text)) => Value::Text(std::str::from_utf8(text)?.to_string()),
                _ => return Err("jsonb: unknown binary version".into()),
            },
            Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                Value::Text(timestamp_text(i64::from_sql(&Type::INT8, raw)?)?)
            }
            _ if is_text(ty) || *ty == Type::JSON => {
                Value::Text(std::str::from_utf8(raw)?.to_string())
            }
            _ => return Err(format!("type {ty} is not read by this layer").into()),
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        // Every type reaches `from_sql`, which names the one it does not read.
        true
    }
}

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

/// PostgreSQL microseconds as SQLite's text: `2026-11-27T03:43:02.123456Z`.
pub fn timestamp_text(pg_us: i64) -> Result<String, BoxError> {
    match pg_us {
        i64::MAX => return Ok("infinity".into()),
        i64::MIN => return Ok("-infinity".into()),
        _ => {}
    }
    const PRINTER: jiff::fmt::temporal::DateTimePrinter =
        jiff::fmt::temporal::DateTimePrinter::new().precision(Some(6));
    let unix = pg_us
        .checked_add(PG_EPOCH_US)
        .ok_or("timestamp out of range")?;
    let at = jiff::Timestamp::from_microsecond(unix)?;
    let mut out = String::with_capacity(27);
    PRINTER.print_timestamp(&at, &mut out)?;
    Ok(out)
}

/// RFC 3339 text as PostgreSQL microseconds.
pub fn timestamp_micros(text: &str) -> Result<i64, BoxError> {
    let at: jiff::Timestamp = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
    Ok(at.as_microsecond() - PG_EPOCH_US)
}

/// One bound parameter, converted when it is sent to the type of its placeholder.
#[derive(Debug)]
pub struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let mismatch =
            || -> BoxError { format!("a {} value cannot be bound as {ty}", self.0.kind()).into() };
        match (self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Value::Integer(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Integer(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Value::Real(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            // SQLite compares an integer with a text column as its decimal text.
            (Value::Integer(i), t) if is_text(t) => {
                out.put_slice(i.to_string().as_bytes());
                Ok(IsNull::No)
            }
            (Value::Text(s), t) if is_text(t) || *t == Type::JSON => {
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Text(s), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Value::Text(s), &Type::TIMESTAMPTZ | &Type::TIMESTAMP) => {
                timestamp_micros(s)?.to_sql(&Type::INT8, out)
            }
            (Value::Blob(b), &Type::BYTEA) => {
                out.put_slice(b);
                Ok(IsNull::No)
            }
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every placeholder type reaches `to_sql`, which names the pairing it cannot make.
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ty: Type, raw: &[u8]) -> Result<Value, BoxError> {
        Cell::from_sql(&ty, raw).map(|c| c.0)
    }

    fn bind(v: Value, ty: Type) -> Result<Vec<u8>, BoxError> {
        let mut out = BytesMut::new();
        Param(&v).to_sql(&ty, &mut out)?;
        Ok(out.to_vec())
    }

    #[test]
    fn timestamptz_reads_as_the_text_sqlite_stores() {
        // 2026-11-27T03:43:02.123456Z
        let unix_us = 1_795_750_982_123_456i64;
        let raw = (unix_us - PG_EPOCH_US).to_be_bytes();
        assert_eq!(
            read(Type::TIMESTAMPTZ, &raw).unwrap(),
            Value::Text("2026-11-27T03:43:02.123456Z".into())
        );
        let whole = (0i64).to_be_bytes();
        assert_eq!(
            read(Type::TIMESTAMPTZ, &whole).unwrap(),
            Value::Text("2000-01-01T00:00:00.000000Z".into())
        );
        assert_eq!(
            read(Type::TIMESTAMPTZ, &i64::MAX.to_be_bytes()).unwrap(),
            Value::Text("infinity".into())
        );
    }

    #[test]
    fn flags_numbers_json_and_bytes_read_as_sqlite_gives_them() {
        assert_eq!(read(Type::BOOL, &[1]).unwrap(), Value::Integer(1));
        assert_eq!(read(Type::BOOL, &[0]).unwrap(), Value::Integer(0));
        assert_eq!(
            read(Type::INT2, &7i16.to_be_bytes()).unwrap(),
            Value::Integer(7)
        );
        assert_eq!(
            read(Type::INT4, &(-3i32).to_be_bytes()).unwrap(),
            Value::Integer(-3)
        );
        assert_eq!(
            read(Type::INT8, &(1i64 << 40).to_be_bytes()).unwrap(),
            Value::Integer(1 << 40)
        );
        assert_eq!(
            read(Type::FLOAT8, &1.5f64.to_be_bytes()).unwrap(),
            Value::Real(1.5)
        );
        assert_eq!(
            read(Type::JSONB, b"\x01[1, 2]").unwrap(),
            Value::Text("[1, 2]".into())
        );
        assert_eq!(read(Type::JSON, b"{}").unwrap(), Value::Text("{}".into()));
        assert_eq!(
            read(Type::BYTEA, b"\xff\x00").unwrap(),
            Value::Blob(vec![0xff, 0])
        );
        assert_eq!(
            read(Type::TEXT, b"caf\xc3\xa9").unwrap(),
            Value::Text("café".into())
        );
        assert_eq!(Cell::from_sql_null(&Type::TEXT).unwrap().0, Value::Null);
        assert!(read(Type::JSONB, b"\x02{}").is_err());
        assert!(read(Type::POINT, b"").is_err());
    }

    #[test]
    fn parameters_take_the_type_of_their_placeholder() {
        assert_eq!(bind(Value::Integer(1), Type::BOOL).unwrap(), [1]);
        assert_eq!(bind(Value::Integer(0), Type::BOOL).unwrap(), [0]);
        assert_eq!(
            bind(Value::Integer(6), Type::INT4).unwrap(),
            6i32.to_be_bytes()
        );
        assert_eq!(
            bind(Value::Integer(6), Type::INT2).unwrap(),
            6i16.to_be_bytes()
        );
        assert!(
            bind(Value::Integer(1 << 40), Type::INT4).is_err(),
            "out of range"
        );
        assert_eq!(bind(Value::Integer(42), Type::TEXT).unwrap(), b"42");
        assert_eq!(bind(Value::Text("x".into()), Type::TEXT).unwrap(), b"x");
        assert_eq!(
            bind(Value::Text("{}".into()), Type::JSONB).unwrap(),
            b"\x01{}"
        );
        assert_eq!(bind(Value::Blob(vec![9]), Type::BYTEA).unwrap(), [9]);
        let t = bind(
            Value::Text("2000-01-01T00:00:01+00:00".into()),
            Type::TIMESTAMPTZ,
        );
        assert_eq!(t.unwrap(), 1_000_000i64.to_be_bytes());
        assert!(bind(Value::Text("yesterday".into()), Type::TIMESTAMPTZ).is_err());
        assert!(
            bind(Value::Text("1".into()), Type::INT8).is_err(),
            "text is not a number"
        );
        let mut out = BytesMut::new();
        assert!(matches!(
            Param(&Value::Null).to_sql(&Type::INT8, &mut out),
            Ok(IsNull::Yes)
        ));
    }

    #[test]
    fn a_time_goes_in_and_comes_out_as_the_same_text() {
        let text = "2026-11-27T03:43:02.123456Z";
        let us = timestamp_micros(text).unwrap();
        assert_eq!(timestamp_text(us).unwrap(), text);
        assert_eq!(
            timestamp_text(timestamp_micros("2026-11-27T04:43:02.123456+01:00").unwrap()).unwrap(),
            text
        );
    }
}
