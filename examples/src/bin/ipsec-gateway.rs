//! `ipsec-gateway`: the gateway tool. `validate FILE...` checks configurations.

fn main() {
    eprintln!("usage: ipsec-gateway validate FILE...");
    std::process::exit(2);
}
