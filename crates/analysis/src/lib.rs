pub mod linetable;
