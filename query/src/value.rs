//! The backend-neutral value: SQLite's five storage classes, which every PostgreSQL column the
//! pages read is converted to (see `pg_types`), and the typed reads on top of it.

/// One cell or one bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The storage class's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl From<rusqlite::types::ValueRef<'_>> for Value {
    fn from(v: rusqlite::types::ValueRef<'_>) -> Value {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            // SQLite text is UTF-8 unless a writer put other bytes there; keep them readable.
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// A Rust type a cell reads as, as strictly as rusqlite's `FromSql`: text is not a number, and
/// NULL only fits an `Option`.
pub trait FromValue: Sized {
    /// `Err(expected type name)` when the value does not fit.
    fn from_value(v: Value) -> Result<Self, &'static str>;
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        Ok(v)
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Text(t) => Ok(t),
            _ => Err("text"),
        }
    }
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Integer(i) => Ok(i),
            _ => Err("integer"),
        }
    }
}

/// SQLite keeps flags as 0 and 1; PostgreSQL's boolean is read as them.
impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Integer(i) => Ok(i != 0),
            _ => Err("integer 0 or 1"),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Real(f) => Ok(f),
            Value::Integer(i) => Ok(i as f64),
            _ => Err("real"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(t) => Ok(t.into_bytes()),
            _ => Err("blob"),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_are_as_strict_as_rusqlites() {
        assert_eq!(String::from_value(Value::Text("a".into())), Ok("a".into()));
        assert!(String::from_value(Value::Integer(1)).is_err());
        assert!(String::from_value(Value::Null).is_err());
        assert_eq!(Option::<String>::from_value(Value::Null), Ok(None));
        assert_eq!(bool::from_value(Value::Integer(1)), Ok(true));
        assert_eq!(bool::from_value(Value::Integer(0)), Ok(false));
        assert!(i64::from_value(Value::Text("1".into())).is_err());
        assert_eq!(f64::from_value(Value::Integer(2)), Ok(2.0));
    }
}
