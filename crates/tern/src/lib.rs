pub mod config;
pub mod tls;
pub mod c2s;
pub mod im;
pub mod router;
pub mod server;
pub mod cli;
pub mod serve;
