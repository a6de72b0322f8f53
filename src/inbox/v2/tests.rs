//! Tests of the v2 client.
