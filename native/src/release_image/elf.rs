//! What the image needs to know of a binary before it ships it: [`inspect`] reads the ELF
//! header (64-bit little-endian only, as both shipped platforms are) for the architecture it
//! runs on and whether it asks for a dynamic loader, which the image does not have.

use std::fmt;

/// An ELF file's architecture and linking, as its header says.
#[derive(Debug, PartialEq, Eq)]
pub struct Elf {
    /// The OCI architecture name (`amd64`, `arm64`), or `machine N` for any other.
    pub architecture: String,
    /// A `PT_INTERP` program header: the binary needs a dynamic loader (and a libc).
    pub dynamic: bool,
}

/// Why a file is not a binary the image can carry.
#[derive(Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64BitLittleEndian,
    Truncated,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElfError::NotElf => "not an ELF executable",
            ElfError::Not64BitLittleEndian => "not a 64-bit little-endian ELF executable",
            ElfError::Truncated => "a truncated ELF file",
        })
    }
}

const PT_INTERP: u32 = 3;

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, ElfError> {
    let b = bytes.get(at..at + 2).ok_or(ElfError::Truncated)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, ElfError> {
    let b = bytes.get(at..at + 4).ok_or(ElfError::Truncated)?;
    Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, ElfError> {
    let b = bytes.get(at..at + 8).ok_or(ElfError::Truncated)?;
    Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Reads the header and program headers of `bytes`.
pub fn inspect(bytes: &[u8]) -> Result<Elf, ElfError> {
    if !bytes.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    if bytes.get(4..6) != Some(&[2, 1]) {
        return Err(ElfError::Not64BitLittleEndian);
    }
    let architecture = match u16_at(bytes, 18)? {
        62 => "amd64".to_owned(),
        183 => "arm64".to_owned(),
        other => format!("machine {other}"),
    };
    let table = usize::try_from(u64_at(bytes, 32)?).map_err(|_| ElfError::Truncated)?;
    let entry = usize::from(u16_at(bytes, 54)?);
    let count = usize::from(u16_at(bytes, 56)?);
    let mut dynamic = false;
    for i in 0..count {
        let at = table
            .checked_add(i.checked_mul(entry).ok_or(ElfError::Truncated)?)
            .ok_or(ElfError::Truncated)?;
        dynamic |= u32_at(bytes, at)? == PT_INTERP;
    }
    Ok(Elf {
        architecture,
        dynamic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header for `machine` with one program header of type `kind`.
    fn elf(machine: u16, kind: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&kind.to_le_bytes());
        b
    }

    #[test]
    fn architecture_and_linking_come_from_the_headers() {
        assert_eq!(
            inspect(&elf(183, 1)),
            Ok(Elf {
                architecture: "arm64".into(),
                dynamic: false
            })
        );
        assert!(inspect(&elf(62, PT_INTERP)).unwrap().dynamic);
        assert_eq!(inspect(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert_eq!(inspect(&elf(62, 1)[..60]), Err(ElfError::Truncated));
    }

    #[test]
    fn the_running_test_binary_reads() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = inspect(&me).unwrap();
        assert_eq!(elf.architecture == "amd64", cfg!(target_arch = "x86_64"));
    }
}
