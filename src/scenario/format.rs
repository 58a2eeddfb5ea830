//! The scenario file format (an API boundary): JSON, parsed with
//! `deny_unknown_fields` and externally tagged enums so that every error keeps its
//! exact position. These types are converted into `sim::SimConfig` by
//! [`super::validate`]; simulator internals are never deserialized directly.

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Editors use this to find the JSON Schema; the simulator ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The seed a plain `mirrorsim run` uses (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub arrays: Vec<ArrayDef>,
    #[serde(default)]
    pub hosts: Vec<HostDef>,
    #[serde(default)]
    pub links: Vec<LinkDef>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub random_faults: RandomFaultsDef,
    #[serde(default)]
    pub limits: LimitsDef,
    /// Which checks judge the run. Default: every check that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckName>>,
    #[serde(default)]
    pub expect: Expect,
}

fn default_seed() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrayDef {
    pub name: String,
    #[serde(default)]
    pub volumes: Vec<VolumeDef>,
    #[serde(default)]
    pub media: MediaDef,
    /// Blocks per change-map bit of mirror pairs: a power of two from 1 to 2^20
    /// (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_grain: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    pub name: String,
    pub blocks: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaDef {
    #[serde(default = "default_read")]
    pub read: DistDef<Duration>,
    #[serde(default = "default_write")]
    pub write: DistDef<Duration>,
    #[serde(default = "default_write")]
    pub meta: DistDef<Duration>,
    /// At a crash, multi-block writes in flight may land block by block.
    #[serde(default)]
    pub torn_writes: bool,
}

impl Default for MediaDef {
    fn default() -> Self {
        MediaDef { read: default_read(), write: default_write(), meta: default_write(), torn_writes: false }
    }
}

fn default_read() -> DistDef<Duration> {
    DistDef::Uniform([Duration(50_000), Duration(150_000)])
}
fn default_write() -> DistDef<Duration> {
    DistDef::Uniform([Duration(80_000), Duration(250_000)])
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadDef>,
    /// How long the host waits for an answer before the outcome is unknown.
    #[serde(default = "default_timeout")]
    pub op_timeout: Duration,
    /// S1: this host is a file server (a write-back cache, a file table on a paired
    /// volume, and an application writing the files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_server: Option<FileServerDef>,
    /// S1: this host is a backup server with a tape, backing up one file server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_server: Option<BackupServerDef>,
}

/// S1: a file server's file system and application.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileServerDef {
    /// The volume holding the files: the source of `pair`.
    pub volume: String,
    /// The mirror pair (named by a `pair_create` in the timeline) split for backups.
    pub pair: String,
    pub files: Vec<FileDef>,
    pub app: AppDef,
    /// How long one application write takes to enter the cache.
    #[serde(default = "default_cache_write")]
    pub cache_write: DistDef<Duration>,
    /// The background flusher runs this often.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Duration,
    /// With no `backup_done` this long after answering, the file server resyncs.
    #[serde(default = "default_lease")]
    pub lease: Duration,
}

/// S1: one file: block extents `[first, count]` on the file server's volume.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDef {
    pub name: String,
    pub extents: Vec<[u64; 2]>,
    /// How often the application picks this file, relative to the others.
    #[serde(default = "one_u64")]
    pub weight: u64,
}

/// S1: the application on a file server: closed-loop slots writing files.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    /// Writes in all.
    pub ops: u64,
    #[serde(default = "one_u32")]
    pub concurrency: u32,
    /// Blocks per write.
    #[serde(default = "one_block")]
    pub len: DistDef<u64>,
    #[serde(default = "zero_think")]
    pub think: DistDef<Duration>,
}

/// S1: a backup server.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupServerDef {
    /// The file server host it backs up (a host-to-host link must join them).
    pub file_server: String,
    /// An unanswered prepare, mirror read or `backup_done` is sent again after this.
    #[serde(default = "default_retry")]
    pub retry: Duration,
    /// Sends of each message before the backup is given up.
    #[serde(default = "default_tries")]
    pub tries: u32,
}

fn one_u64() -> u64 {
    1
}
fn default_cache_write() -> DistDef<Duration> {
    DistDef::Uniform([Duration(5_000), Duration(20_000)])
}
fn default_flush_interval() -> Duration {
    Duration(2_000_000)
}
fn default_lease() -> Duration {
    Duration(1_000_000_000)
}
fn default_retry() -> Duration {
    Duration(20_000_000)
}
fn default_tries() -> u32 {
    5
}

fn default_timeout() -> Duration {
    Duration(100_000_000)
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadDef {
    /// Volume names the host reads and writes.
    pub volumes: Vec<String>,
    #[serde(default = "one_u32")]
    pub concurrency: u32,
    /// Operations in all.
    pub ops: u64,
    /// Probability that an operation is a read, e.g. "1/2".
    #[serde(default = "half")]
    pub read: RatioDef,
    #[serde(default)]
    pub blocks: BlockDistDef,
    /// Blocks per operation.
    #[serde(default = "one_block")]
    pub len: DistDef<u64>,
    /// Pause between an answer and the next operation.
    #[serde(default = "zero_think")]
    pub think: DistDef<Duration>,
}

fn one_u32() -> u32 {
    1
}
fn half() -> RatioDef {
    RatioDef(1, 2)
}
fn one_block() -> DistDef<u64> {
    DistDef::Constant(1)
}
fn zero_think() -> DistDef<Duration> {
    DistDef::Constant(Duration(0))
}

/// Where in a volume operations land.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BlockDistDef {
    #[default]
    Uniform,
    /// With probability `hot`, one of the first `hot_blocks` blocks.
    HotSet { hot_blocks: u64, hot: RatioDef },
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkDef {
    pub name: String,
    /// The two ends: a host name and an array name.
    pub between: [String; 2],
    #[serde(default = "default_latency")]
    pub latency: DistDef<Duration>,
    #[serde(default = "never")]
    pub drop: RatioDef,
    #[serde(default = "never")]
    pub duplicate: RatioDef,
    #[serde(default = "never")]
    pub reorder: RatioDef,
    #[serde(default = "default_reorder_delay")]
    pub reorder_delay: DistDef<Duration>,
}

fn default_latency() -> DistDef<Duration> {
    DistDef::Uniform([Duration(20_000), Duration(60_000)])
}
fn default_reorder_delay() -> DistDef<Duration> {
    DistDef::Uniform([Duration(100_000), Duration(1_000_000)])
}
fn never() -> RatioDef {
    RatioDef(0, 1)
}

/// One line of the script: at this time, do this.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    pub at: Duration,
    #[serde(rename = "do")]
    pub action: ActionDef,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionDef {
    LinkDown {
        link: String,
    },
    LinkUp {
        link: String,
    },
    LinkFlap {
        link: String,
        down: Duration,
        up: Duration,
        times: u32,
    },
    CrashArray {
        array: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restart_after: Option<Duration>,
    },
    RestartArray {
        array: String,
    },
    CrashHost {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restart_after: Option<Duration>,
    },
    RestartHost {
        host: String,
    },
    /// S2: `host` makes `mirror` a mirror of `source` (both on one array). `pair` names
    /// the pair in later commands.
    PairCreate {
        host: String,
        pair: String,
        source: String,
        mirror: String,
    },
    Split {
        host: String,
        pair: String,
    },
    Resync {
        host: String,
        pair: String,
    },
    Restore {
        host: String,
        pair: String,
        #[serde(default)]
        protected: bool,
    },
    PairDelete {
        host: String,
        pair: String,
    },
    /// The media under `block` of `volume` reads with an error until it is written
    /// (a latent sector error).
    MediaError {
        volume: String,
        block: u64,
    },
    /// S1: backup server `host` backs up `file` of its file server (offloaded backup:
    /// prepare_backup, read the mirror to tape, backup_done).
    OffloadBackup {
        host: String,
        file: String,
    },
    /// S3: `host` makes `secondary` (on another array, joined to the primary's by an
    /// array link) the remote copy of `primary`, in consistency group `group`. The
    /// first pair of a group sets its `mode` (default `sync`), `fence` (default
    /// `never`) and `split_brain` policy (default `refuse`). Sent to the primary's
    /// array.
    RemotePairCreate {
        host: String,
        pair: String,
        primary: String,
        secondary: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<model::RemoteMode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<model::Fence>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        split_brain: Option<model::SplitBrainPolicy>,
    },
    /// S3: planned suspension of a group. Sent to the group's primary array unless
    /// `array` names the other one (the engine forwards it).
    Suspend {
        host: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        array: Option<String>,
    },
    /// S3: resynchronise a group from its primaries (sent to the primary array).
    Resume {
        host: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        array: Option<String>,
    },
    /// S3: the secondaries take over (sent to the secondary array).
    Takeover {
        host: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        array: Option<String>,
    },
    /// S3: after a takeover, resynchronise in reverse; the roles swap (sent to the
    /// secondary array).
    Failback {
        host: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        array: Option<String>,
    },
    /// S4: `host` takes a point-in-time image of `volume`, named `image` (a new name,
    /// not a volume's; workloads may read and write it by that name once it exists).
    Snapshot {
        host: String,
        volume: String,
        image: String,
    },
    /// S4: `host` deletes the image named `image`.
    DeleteSnapshot {
        host: String,
        image: String,
    },
    /// S0: `host` backs `source` up to `destination` (two regions of one array),
    /// naming the backup `backup` (numbered in order of first appearance). Sent to the
    /// regions' array.
    Backup {
        host: String,
        backup: String,
        source: RegionDef,
        destination: RegionDef,
    },
    /// S0: `host` stores its management information about `backup` in the array's
    /// catalog.
    RecordBackup {
        host: String,
        backup: String,
        label: String,
        generation: u64,
        /// The host's clock when it took the backup (its own number, any unit).
        host_time: u64,
        /// What the host backed up, in its words (`"/db"`).
        source: String,
    },
    /// S0: `host` lists the catalog entries of the backups of `volume`.
    ListBackups {
        host: String,
        volume: String,
    },
    /// S0: `host` restores `backup` to the region `to` (on the backup's array).
    RestoreBackup {
        host: String,
        backup: String,
        to: RegionDef,
    },
}

/// S0: a region of a volume: `blocks` blocks from `start`. The volume name `"catalog"`
/// names the catalog of the array the command goes to (a region every command
/// refuses: `inside_catalog`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionDef {
    pub volume: String,
    pub start: u64,
    pub blocks: u64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomFaultsDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_flap: Option<FaultRateDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_crash: Option<FaultRateDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_crash: Option<FaultRateDef>,
}

/// A random fault: on average one every `every`; the target stays down for `down`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultRateDef {
    pub every: Duration,
    pub down: DistDef<Duration>,
    /// Names of links, arrays or hosts to pick from; empty means any.
    #[serde(default)]
    pub targets: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsDef {
    #[serde(default = "default_max_time")]
    pub max_time: Duration,
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// How long everything may take to settle after the faults stop (liveness).
    #[serde(default = "default_settle")]
    pub settle: Duration,
}

impl Default for LimitsDef {
    fn default() -> Self {
        LimitsDef { max_time: default_max_time(), max_events: default_max_events(), settle: default_settle() }
    }
}

fn default_max_time() -> Duration {
    Duration(60_000_000_000)
}
fn default_max_events() -> u64 {
    50_000_000
}
fn default_settle() -> Duration {
    Duration(10_000_000_000)
}

/// A check that judges a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// One client, no faults: engine and model agree step for step.
    Differential,
    /// Every acknowledged write survives.
    Durability,
    /// The client history is linearizable against the model.
    Linearizability,
    /// The engine's invariants hold at every probe (SPEC §4.3), and every media error
    /// a host saw was on a block with an injected media fault.
    Invariants,
    /// S1: every complete tape record holds its file as the application saw it when
    /// the inhibit began; held writes are delayed, never lost or reordered; other
    /// files are never delayed; the files survive as the application wrote them.
    Offload,
    /// S3: after every takeover, the secondaries hold a prefix of their primaries'
    /// acknowledged write order across the whole consistency group
    /// (`checker::prefix`); reports the recovery point.
    RemotePrefix,
}

impl CheckName {
    pub fn name(self) -> &'static str {
        match self {
            CheckName::Differential => "differential",
            CheckName::Durability => "durability",
            CheckName::Linearizability => "linearizability",
            CheckName::Invariants => "invariants",
            CheckName::Offload => "offload",
            CheckName::RemotePrefix => "remote_prefix",
        }
    }
}

/// The outcome a scenario expects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// Every check passes and the run completes.
    #[default]
    Pass,
    /// This check finds a violation (a scenario that demonstrates a bug).
    Violation(CheckName),
    /// The run ends on this bound: `max_events`, `max_time` or `settle_timeout`.
    Ending(String),
}

/// Simulated nanoseconds. In a file: an integer (nanoseconds) or a string with a
/// unit: `"250ns"`, `"80us"`, `"5ms"`, `"2s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub u64);

impl Duration {
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!(
                "invalid duration {s:?}: expected a whole number and a unit (ns, us, ms, s), e.g. \"5ms\""
            )
        })?;
        let scale = match unit.trim() {
            "" | "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?} (use ns, us, ms or s)")),
        };
        n.checked_mul(scale).map(Duration).ok_or_else(|| format!("duration {s:?} is too large"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0ns"),
            _ if n.is_multiple_of(1_000_000_000) => write!(f, "{}s", n / 1_000_000_000),
            _ if n.is_multiple_of(1_000_000) => write!(f, "{}ms", n / 1_000_000),
            _ if n.is_multiple_of(1_000) => write!(f, "{}us", n / 1_000),
            _ => write!(f, "{n}ns"),
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration: nanoseconds as an integer, or a string such as \"5ms\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v)
                    .map(Duration)
                    .map_err(|_| E::custom(format!("a duration cannot be negative ({v})")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A probability: `"num/den"`, or `0` or `1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatioDef(pub u64, pub u64);

impl RatioDef {
    pub fn parse(s: &str) -> Result<RatioDef, String> {
        let bad =
            || format!("invalid probability {s:?}: expected \"num/den\" with num <= den, e.g. \"1/100\"");
        let (n, d) = s.split_once('/').ok_or_else(bad)?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        let d: u64 = d.trim().parse().map_err(|_| bad())?;
        if d == 0 || n > d {
            return Err(bad());
        }
        Ok(RatioDef(n, d))
    }
}

impl<'de> Deserialize<'de> for RatioDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = RatioDef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a probability: \"num/den\" such as \"1/100\", or 0 or 1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RatioDef, E> {
                match v {
                    0 => Ok(RatioDef(0, 1)),
                    1 => Ok(RatioDef(1, 1)),
                    _ => Err(E::custom(format!("invalid probability {v}: use \"num/den\", or 0 or 1"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RatioDef, E> {
                RatioDef::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for RatioDef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}/{}", self.0, self.1))
    }
}

/// A distribution. `T` is [`Duration`] for times and `u64` for block counts. In a
/// file, a bare value (`"1ms"`, `4`) is shorthand for `{ "constant": ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistDef<T> {
    Constant(T),
    /// `[min, max]`, inclusive.
    Uniform([T; 2]),
    /// Mostly `fast`, with probability `slow_ratio` `slow`.
    Bimodal {
        fast: [T; 2],
        slow: [T; 2],
        slow_ratio: RatioDef,
    },
}

/// The tagged form, as serde derives it (externally tagged: exact error positions).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[schemars(rename = "Dist_tagged_of_{T}")]
pub(super) enum DistTagged<T> {
    Constant(T),
    Uniform([T; 2]),
    Bimodal { fast: [T; 2], slow: [T; 2], slow_ratio: RatioDef },
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DistDef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
            type Value = DistDef<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a value, or one of {\"constant\": v}, {\"uniform\": [min, max]}, {\"bimodal\": {...}}",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DistDef<T>, E> {
                T::deserialize(v.into_deserializer()).map(DistDef::Constant)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DistDef<T>, E> {
                T::deserialize(v.into_deserializer()).map(DistDef::Constant)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DistDef<T>, E> {
                T::deserialize(v.into_deserializer()).map(DistDef::Constant)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<DistDef<T>, A::Error> {
                let tagged = DistTagged::<T>::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match tagged {
                    DistTagged::Constant(v) => DistDef::Constant(v),
                    DistTagged::Uniform(r) => DistDef::Uniform(r),
                    DistTagged::Bimodal { fast, slow, slow_ratio } => {
                        DistDef::Bimodal { fast, slow, slow_ratio }
                    }
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(Duration::parse("5ms"), Ok(Duration(5_000_000)));
        assert_eq!(Duration::parse("80us"), Ok(Duration(80_000)));
        assert_eq!(Duration::parse("2s"), Ok(Duration(2_000_000_000)));
        assert_eq!(Duration::parse("7"), Ok(Duration(7)));
        assert!(Duration::parse("5 minutes").unwrap_err().contains("unknown unit"));
        assert!(Duration::parse("ms").is_err());
        assert!(Duration::parse("99999999999999999999s").is_err());
        assert_eq!(Duration(5_000_000).to_string(), "5ms");
        assert_eq!(Duration(1_500).to_string(), "1500ns");
    }

    #[test]
    fn ratios_parse() {
        assert_eq!(RatioDef::parse("1/100"), Ok(RatioDef(1, 100)));
        assert!(RatioDef::parse("2/1").is_err());
        assert!(RatioDef::parse("1/0").is_err());
        assert!(RatioDef::parse("half").is_err());
    }
}
