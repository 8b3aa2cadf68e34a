//! Small, allocation-free readers of `/proc` files: `pread` into a stack
//! buffer and parse in place. Kept apart so the sampler, the identity check
//! and the ledger read `/proc` the same way.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Reads the whole file behind `fd` from offset 0 into `buf` (truncated at
/// its length). `/proc` files are seq_files, which restart at offset 0, so
/// the same fd can be re-read for fresh values.
pub(crate) fn pread_all(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the pointer and length describe the unfilled part of buf.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
                len as libc::off_t,
            )
        };
        match n {
            0 => break,
            n if n > 0 => len += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(len)
}

/// From the text of `/proc/PID/stat`: the start time (clock ticks since
/// boot, field 22) and whether the process is a zombie or dead.
pub(crate) fn parse_stat(text: &[u8]) -> Option<(u64, bool)> {
    // The command name may hold spaces and parentheses: split after the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = fields.next()?;
    let start = parse_u64(fields.nth(18)?)?;
    Some((start, state == b"Z" || state == b"X"))
}

/// The parent pid (field 4) from the text of `/proc/PID/stat`.
pub(crate) fn parse_ppid(text: &[u8]) -> Option<u32> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let ppid = parse_u64(fields.nth(1)?)?;
    u32::try_from(ppid).ok()
}

/// The resident pages (second field) of `/proc/PID/statm`.
pub(crate) fn parse_statm_resident(text: &[u8]) -> Option<u64> {
    let mut fields = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    fields.next()?;
    parse_u64(fields.next()?)
}

/// Rss, Pss and USS (Private_Clean + Private_Dirty) in bytes from
/// `/proc/PID/smaps_rollup`.
pub(crate) fn parse_smaps_rollup(text: &[u8]) -> Option<(u64, u64, u64)> {
    let (mut rss, mut pss, mut private) = (None, None, 0u64);
    let mut seen_private = false;
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = (&line[..colon], &line[colon + 1..]);
        let kib = || {
            let digits = rest
                .split(|b| b.is_ascii_whitespace())
                .find(|f| !f.is_empty())?;
            parse_u64(digits)?.checked_mul(1024)
        };
        match name {
            b"Rss" => rss = kib(),
            b"Pss" => pss = kib(),
            b"Private_Clean" | b"Private_Dirty" => {
                private = private.checked_add(kib()?)?;
                seen_private = true;
            }
            _ => {}
        }
    }
    seen_private.then_some(())?;
    Some((rss?, pss?, private))
}

pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))?
    })
}

/// Counts the entries of an open `/proc/PID/fd` directory other than `.`
/// and `..`, with `getdents64` into a stack buffer (no allocation per entry).
pub(crate) fn count_dir_entries(dir: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: rewinding an fd we borrow.
    if unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 elements keep the dirent records 8-byte aligned.
    let mut buf = [0u64; 1024];
    let mut count = 0;
    loop {
        // SAFETY: getdents64 writes at most the buffer's length in bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(count);
        }
        // SAFETY: the kernel filled n bytes of buf.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
        while at + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &bytes[at + 19..(at + reclen).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                count += 1;
            }
            at += reclen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_names() {
        let text =
            b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_stat(text), Some((987654, false)));
        let zombie = b"7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert_eq!(parse_stat(zombie), Some((55, true)));
        assert_eq!(parse_stat(b"7 (x) S 1"), None);
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_ppid(text), Some(1));
        assert_eq!(parse_ppid(b"garbage"), None);
    }

    #[test]
    fn statm_and_rollup() {
        assert_eq!(parse_statm_resident(b"1000 250 100 1 0 300 0\n"), Some(250));
        assert_eq!(parse_statm_resident(b"1000"), None);
        let rollup = b"55d0-7ff [rollup]\nRss:                2048 kB\nPss:                1024 kB\n\
Pss_Anon:            512 kB\nShared_Clean:        1024 kB\nPrivate_Clean:        256 kB\nPrivate_Dirty:        512 kB\n";
        assert_eq!(
            parse_smaps_rollup(rollup),
            Some((2048 * 1024, 1024 * 1024, 768 * 1024))
        );
        assert_eq!(parse_smaps_rollup(b"Rss: 1 kB\n"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"12a"), None);
    }
}
