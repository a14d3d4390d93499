//! Kitchen tickets: ESC/POS bytes for network thermal printers, and the worker that sends the
//! print jobs the stores queue, exactly once through outages.

pub mod escpos;
pub mod send;
pub mod ticket;
pub mod worker;
