//! The PAN-OS configuration model.
