//! `mirrorsim bench` (filled below).
pub fn run(_quick: bool) -> u8 {
    0
}
