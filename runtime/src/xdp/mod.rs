//! The XDP execution environment: the context programs see, packet buffers with head- and
//! tailroom, and running a program on a packet.

pub mod ctx;
