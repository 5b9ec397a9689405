"""The catalog: peewee tables, database backends and schema migrations."""
