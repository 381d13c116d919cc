//! Any bytes as an Ethernet frame: parsing and printing never panic, and a frame that parses
//! (checksums ignored) emits to bytes that parse to the same representation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_wire::{ChecksumCapabilities, Frame, PrettyFrame};

fuzz_target!(|data: &[u8]| {
    let _ = PrettyFrame(data).to_string();
    let caps = ChecksumCapabilities::ignored();
    if let Ok(frame) = Frame::parse(data, &caps) {
        let mut out = vec![0u8; frame.buffer_len()];
        // Emission may refuse (e.g. options that only fit packed more tightly than we pack them),
        // but what it writes must parse back to the same thing, with checksums now correct.
        if frame
            .emit(&mut out, &ChecksumCapabilities::software())
            .is_ok()
        {
            let again = Frame::parse(&out, &ChecksumCapabilities::software())
                .expect("emitted frame parses");
            assert_eq!(again, frame);
        }
    }
});
