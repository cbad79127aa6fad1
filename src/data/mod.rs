//! Data sources: files and (later) distributions that become a [`crate::matrix::Matrix`].

pub mod npy;
