//! The domain's integration tests, one binary: its decimal types and closed vocabularies agree with
//! the migrations users apply.

mod column_shapes;
mod schema_vocabularies;
