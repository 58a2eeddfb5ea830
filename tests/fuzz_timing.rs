//! The generator's timed races: the restore racer's slow write tail (`fuzz::race`) and
//! S0 backups with a crash timed into their copy's last step (`fuzz::backup_timing`,
//! `full` profile).

use mirrorsim::fuzz::generate::{Profile, generate_with};
use mirrorsim::fuzz::race::slow_tail;
use mirrorsim::scenario::format::{ActionDef, ArrayDef, DistDef, MediaDef};

fn array() -> ArrayDef {
    ArrayDef { name: "A".into(), volumes: Vec::new(), media: MediaDef::default(), change_grain: None }
}

#[test]
fn the_racers_array_often_gets_a_slow_tail_on_data_writes_only() {
    let mut slow = 0;
    for seed in 0..300 {
        let mut a = array();
        slow_tail(seed, &mut a);
        // The same seed, the same tail.
        let mut again = array();
        slow_tail(seed, &mut again);
        assert_eq!(format!("{:?}", a.media), format!("{:?}", again.media));
        let fresh = MediaDef::default();
        assert_eq!(format!("{:?}", a.media.meta), format!("{:?}", fresh.meta), "metadata puts stay fast");
        assert_eq!(format!("{:?}", a.media.read), format!("{:?}", fresh.read));
        if let DistDef::Bimodal { fast, slow: tail, slow_ratio } = a.media.write {
            slow += 1;
            let DistDef::Uniform(before) = fresh.write else { unreachable!() };
            assert_eq!(fast, before, "the fast part is what it was");
            assert!(tail[0].0 >= 1_000_000 && tail[1].0 <= 7_000_000, "{tail:?}");
            assert!(slow_ratio.0 == 1 && (4..=12).contains(&slow_ratio.1), "{slow_ratio:?}");
            // A tail already there (`slow_component`) stays.
            let before = format!("{:?}", a.media.write);
            slow_tail(seed + 1000, &mut a);
            assert_eq!(format!("{:?}", a.media.write), before);
        }
    }
    assert!((170..=230).contains(&slow), "two seeds in three: {slow} of 300");
}

#[test]
fn full_profile_backups_usually_crash_their_array_as_the_copy_ends() {
    let (mut backups, mut crashed) = (0, 0);
    for seed in 0..300 {
        let standard = generate_with(seed, Profile::Standard).file;
        assert!(!standard.timeline.iter().any(|e| matches!(e.action, ActionDef::Backup { .. })));
        let file = generate_with(seed, Profile::Full).file;
        let array_of = |volume: &str| {
            file.arrays.iter().find(|a| a.volumes.iter().any(|v| v.name == volume)).map(|a| a.name.clone())
        };
        for (i, e) in file.timeline.iter().enumerate() {
            let ActionDef::Backup { source, .. } = &e.action else { continue };
            backups += 1;
            let array = array_of(&source.volume).expect("the source's array");
            // A crash of the source's array within a few copy steps of the command
            // (the generated media take 20-400 us a step).
            if file.timeline[i..].iter().any(|c| {
                matches!(&c.action, ActionDef::CrashArray { array: a, .. } if *a == array)
                    && c.at.0 > e.at.0 + 50_000
                    && c.at.0 < e.at.0 + 4_000_000
            }) {
                crashed += 1;
            }
        }
    }
    assert!(backups >= 60, "{backups} backups in 300 full seeds");
    assert!(crashed * 2 > backups, "{crashed} of {backups} backups crash their array as the copy ends");
}
