//! Local provider sandboxes for tests.
