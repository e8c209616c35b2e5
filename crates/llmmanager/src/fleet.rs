//! Fleet mode (feature `fleet`): several processes, on one machine or many, share one account's
//! pacing through Redis.
//!
//! Each paced target (model, region) is one Redis hash under the fleet's key prefix, holding the
//! same lane a single process keeps in memory (rates, theoretical arrival times, hold, throttle
//! count, what the lane served in the last window). One Lua script reads and changes it
//! atomically, on Redis's own clock (`TIME`): processes on different machines never compare
//! their clocks, and a reservation comes back as a wait relative to now.
//!
//! Nothing is held by a process: a reservation is a place on the lane's shared timeline at most
//! one attempt's wait ahead, which passes with time whether its process still runs or not, and
//! every key expires ([`Fleet::lease`] after its last use, or later when its timeline runs
//! further ahead), so a process that dies holds nothing once its places have passed and leaves
//! nothing behind after the lease.
//!
//! Target cool-downs are shared too: a target this process's health puts in cool-down (after
//! throttling or unavailability) is written as a key with that cool-down's time to live
//! (`SET ... PX`), and a process that finds such a key for a target it finds healthy cools it
//! down too, for its own cool-down length. The keys are checked at most four times a second, when
//! calls are paced.
//!
//! When Redis cannot be reached in the middle of a run, pacing goes on per process (each
//! process's own lanes, which learn from its own answers and throttles), with one warning, and
//! Redis is tried again every few seconds; no call fails because Redis is down. When it answers
//! again, that is logged (at info), and a later loss is warned about again.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bedrock_retry::{HealthTracker, TargetHealth};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use crate::pacing::{Limit, Pacing, Reservation};

/// Where a fleet shares its pacing: a Redis URL and a key prefix naming the account and quota
/// the fleet paces to.
///
/// The URL may carry a password (`redis://:secret@host:6379`); it never appears in `Debug`
/// output, logs or errors, which show `redis://:***@host:6379`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use llmmanager::fleet::Fleet;
///
/// let fleet = Fleet::new("redis://:s3cret@10.0.0.5:6379")
///     .key("prod-account-123")
///     .lease(Duration::from_secs(120));
/// assert_eq!(fleet.redacted_url(), "redis://:***@10.0.0.5:6379");
/// assert!(!format!("{fleet:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Fleet {
    url: String,
    key: String,
    lease: Duration,
}

impl Fleet {
    /// The default key: fleets that share a Redis and pace to different accounts or quotas
    /// must each set their own with [`Fleet::key`].
    pub const DEFAULT_KEY: &'static str = "default";

    /// A fleet sharing its pacing through the Redis at `url` (`redis://[[user]:password@]host[:port][/db]`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key: Self::DEFAULT_KEY.to_owned(),
            lease: Duration::from_secs(120),
        }
    }

    /// Names the account and quota scope the fleet paces to: its keys are `llmm:{key}:...`, so
    /// two fleets with different keys share nothing.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long a lane's key lives in Redis after its last use (default two minutes, at least
    /// one second); cool-downs expire with their own length.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// The URL with its password, if any, replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// The fleet's key.
    pub fn key_name(&self) -> &str {
        &self.key
    }

    /// The prefix of every key the fleet writes.
    fn prefix(&self) -> String {
        format!("llmm:{}", self.key)
    }

    /// `text` with the URL's password replaced, in case a driver message quotes it.
    fn scrub(&self, text: &str) -> String {
        match password(&self.url) {
            Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
            _ => text.to_owned(),
        }
    }
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.redacted_url())
            .field("key", &self.key)
            .field("lease", &self.lease)
            .finish()
    }
}

/// Why a fleet could not be set up. The URL in the message is redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url}: {reason}")]
    Url {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis could not be reached when the manager was built.
    #[error("cannot reach Redis at {url}: {reason}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The driver's error.
        reason: String,
    },
}

/// A URL's user info and what follows it, split at the URL's last `@`: a password holding `/`,
/// `?` or `#` (which a URL needs percent-encoded, but people paste unencoded) is still taken
/// whole, at the cost of hiding a little more of a URL whose path or query holds an `@`.
fn userinfo(url: &str) -> (&str, Option<&str>, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => (scheme, Some(userinfo), host),
        None => (scheme, None, rest),
    }
}

/// The password part of a URL's user info, if any.
fn password(url: &str) -> Option<&str> {
    let (_, userinfo, _) = userinfo(url);
    let userinfo = userinfo?;
    Some(userinfo.split_once(':').map_or(userinfo, |(_, pass)| pass))
}

/// `url` with its password (or, with a user name only, that name: Redis takes a lone name as
/// the password) replaced by `***`, and any query dropped.
fn redact(url: &str) -> String {
    let (scheme, userinfo, rest) = userinfo(url);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let user = match userinfo.map(|u| u.split_once(':')) {
        Some(Some((user, _))) => format!("{user}:***@"),
        Some(None) => "***@".to_owned(),
        None => String::new(),
    };
    if scheme.is_empty() {
        format!("{user}{rest}")
    } else {
        format!("{scheme}://{user}{rest}")
    }
}

/// The lane script: one atomic step on a lane's hash, on Redis's clock.
///
/// `KEYS[1]` the lane; `ARGV`: op (`reserve`, `epoch`, `ok`, `throttle`, `unsent`, `sent`),
/// window µs, headroom, decrease, increase, learn (`1`/`0`), seed requests and tokens per window
/// (`''`: none), lease ms, then the op's own: `reserve` tokens and max wait µs, `ok` reserved and
/// used tokens, `throttle` `r` or `t`, `unsent` (a place dropped before its request was sent)
/// reserved tokens and the place's epoch, `sent` (dropped after) reserved tokens. Returns
/// `{given (1/0), wait µs, epoch, next wait µs}`. Expiries and waits are whole numbers and
/// capped (at about 300 years, `MOST_MS`), so that no lease, quota or request size makes Redis
/// refuse the expiry (which would leave the key without one) or an integer reply overflow.
const LANE_SCRIPT: &str = r"
local key = KEYS[1]
local op = ARGV[1]
local window = tonumber(ARGV[2])
local headroom = tonumber(ARGV[3])
local decrease = tonumber(ARGV[4])
local increase = tonumber(ARGV[5])
local learn = ARGV[6] == '1'
local lease = tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local burst = window / 60
local h = {}
local raw = redis.call('HGETALL', key)
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local function num(f, d)
  local v = h[f]
  if v == nil or v == '' then return d end
  return tonumber(v)
end
if h['init'] == nil then
  h['init'] = 1
  h['epoch'] = 0
  for _, p in ipairs({'r', 't'}) do
    local seed = ARGV[p == 'r' and 7 or 8]
    if seed ~= '' then
      local rate = math.max(tonumber(seed) * headroom / window, 1e-12)
      h[p .. 'rate'] = rate
      h[p .. 'ceil'] = rate
      h[p .. 'conf'] = 1
    end
    h[p .. 'lrn'] = -1
    h[p .. 'cut'] = -1
  end
end
local function rate_wait(p)
  local hold = math.max(0, num(p .. 'hold', 0) - now)
  if num(p .. 'rate', nil) == nil then return hold end
  return math.max(hold, num(p .. 'tat', 0) - burst - now)
end
local function lane_wait() return math.max(rate_wait('r'), rate_wait('t')) end
local function take(p, units)
  local r = num(p .. 'rate', nil)
  if r == nil then return end
  h[p .. 'tat'] = math.max(num(p .. 'tat', 0), now, num(p .. 'hold', 0)) + units / r
end
local function give_back(p, units)
  local r = num(p .. 'rate', nil)
  if r == nil then return end
  local tat = num(p .. 'tat', 0)
  h[p .. 'tat'] = math.max(tat - units / r, math.min(now, tat))
end
local function roll()
  local at = num('svat', nil)
  if at == nil or now - at >= 2 * window then
    h['svn'] = 0; h['svt'] = 0; h['svnp'] = 0; h['svtp'] = 0; h['svat'] = now
  elseif now - at >= window then
    h['svnp'] = num('svn', 0); h['svtp'] = num('svt', 0)
    h['svn'] = 0; h['svt'] = 0; h['svat'] = at + window
  end
end
local function served(f)
  local share = 1 - (now - num('svat', now)) / window
  return num(f, 0) + num(f .. 'p', 0) * math.max(share, 0)
end
local function cut(p, s)
  local strikes = num(p .. 'str', 0)
  local hold = math.min(window / 20 * 2 ^ math.min(strikes, 3), window / 4)
  h[p .. 'str'] = strikes + 1
  local hold_until = math.max(num(p .. 'hold', 0), now + hold)
  h[p .. 'hold'] = hold_until
  h[p .. 'tat'] = hold_until
  local r = num(p .. 'rate', nil)
  local last = num(p .. 'cut', -1)
  if not learn or (last >= 0 and now < last + hold)
      or (r ~= nil and last >= 0 and num(p .. 'ans', 0) == 0) then
    return
  end
  h[p .. 'ans'] = 0
  h[p .. 'cut'] = now
  h[p .. 'grow'] = now
  local sv = math.max(s, 1) * headroom / window
  if r == nil then h[p .. 'lrn'] = hold_until end
  local learned = sv
  if r ~= nil then learned = r * decrease end
  if num(p .. 'conf', 0) == 0 then h[p .. 'ceil'] = math.max(sv, learned) end
  h[p .. 'rate'] = math.max(learned, 1e-12)
end
local function grow(p, units)
  h[p .. 'str'] = 0
  local r = num(p .. 'rate', nil)
  if r == nil or not learn then h[p .. 'ans'] = 1; return end
  local conf = num(p .. 'conf', 0) == 1
  local ceil = num(p .. 'ceil', nil)
  if now < num(p .. 'lrn', -1) then
    local grown = r + units * headroom / window
    h[p .. 'rate'] = grown
    if not conf and ceil ~= nil then h[p .. 'ceil'] = math.max(ceil, grown) end
    h[p .. 'grow'] = now
    return
  end
  h[p .. 'lrn'] = -1
  h[p .. 'ans'] = 1
  local windows = (now - num(p .. 'grow', now)) / window
  h[p .. 'grow'] = now
  if not conf and ceil ~= nil then
    ceil = ceil * (1 + increase / 10 * windows)
    h[p .. 'ceil'] = ceil
  end
  local grown = r * (1 + increase * windows)
  if ceil ~= nil then grown = math.min(grown, ceil) end
  h[p .. 'rate'] = grown
end
local given, wait = 1, 0
if op == 'reserve' then
  wait = lane_wait()
  if wait > tonumber(ARGV[11]) then
    given = 0
  else
    take('r', 1)
    take('t', tonumber(ARGV[10]))
  end
elseif op == 'ok' then
  local reserved, used = tonumber(ARGV[10]), tonumber(ARGV[11])
  give_back('t', math.max(reserved - used, 0))
  roll()
  h['svn'] = num('svn', 0) + 1
  h['svt'] = num('svt', 0) + used
  grow('r', 1)
  grow('t', used)
elseif op == 'unsent' then
  if num('epoch', 0) == tonumber(ARGV[11]) then
    give_back('r', 1)
    give_back('t', tonumber(ARGV[10]))
  end
elseif op == 'sent' then
  roll()
  h['svn'] = num('svn', 0) + 1
  h['svt'] = num('svt', 0) + tonumber(ARGV[10])
elseif op == 'throttle' then
  h['epoch'] = num('epoch', 0) + 1
  roll()
  if ARGV[10] == 'r' then
    cut('r', served('svn'))
    h['ttat'] = math.min(num('ttat', 0), num('rhold', 0))
  else
    cut('t', served('svt'))
    h['rhold'] = math.max(num('rhold', 0), num('thold', 0))
    h['rtat'] = h['rhold']
  end
end
local next_wait = lane_wait()
local flat = {}
for f, v in pairs(h) do
  flat[#flat + 1] = f
  if type(v) == 'number' then v = string.format('%.17g', v) end
  flat[#flat + 1] = v
end
redis.call('HSET', key, unpack(flat))
local ahead = math.max(num('rtat', 0), num('ttat', 0), num('rhold', 0), num('thold', 0)) - now
local function whole(x, most) return string.format('%.0f', math.min(math.max(x, 0), most)) end
redis.call('PEXPIRE', key, whole(lease + math.max(ahead, 0) / 1000, 1e13))
return {given, tonumber(whole(wait, 2 ^ 53)), num('epoch', 0), tonumber(whole(next_wait, 2 ^ 53))}
";

/// How long a fleet keeps to per-process pacing after Redis failed, before trying it again.
const RETRY_AFTER: Duration = Duration::from_secs(3);

/// How often cool-downs are exchanged with the fleet, at most.
const SHARE_EVERY: Duration = Duration::from_millis(250);

/// The longest time to live a key is given, in milliseconds (about 300 years): Redis refuses
/// an expiry that overflows its clock.
const MOST_MS: u64 = 10_000_000_000_000;

/// Leeway when telling this process's own cool-down keys from others'.
const SLACK: Duration = Duration::from_secs(1);

/// The cool-downs exchanged with the fleet, on the local clock.
#[derive(Debug, Default)]
struct Cooling {
    /// Targets this process wrote a cool-down for, and until when.
    published: HashMap<(String, String), Duration>,
    /// Targets cooled here because the fleet's key said so, and until when the key lived.
    imported: HashMap<(String, String), Duration>,
    /// When the keys were last exchanged.
    last: Option<Duration>,
    /// How many targets this process's health held unhealthy then.
    unhealthy: usize,
}

/// The lanes of a fleet, in Redis.
pub(crate) struct FleetPace {
    fleet: Fleet,
    config: Pacing,
    conn: ConnectionManager,
    script: redis::Script,
    /// When this process may next see a lane free, on the local clock: the ordering hint.
    next_free: Mutex<HashMap<(String, String), Duration>>,
    /// Until when (local clock) Redis is not asked, after it failed.
    down_until: Mutex<Option<Duration>>,
    /// Whether a loss of Redis was warned about and Redis has not answered since.
    warned: AtomicBool,
    /// The manager's target health.
    health: Arc<HealthTracker>,
    /// Targets paced so far: the cool-down keys to look at.
    seen: Mutex<HashSet<(String, String)>>,
    cooling: Mutex<Cooling>,
    sharing: AtomicBool,
}

impl fmt::Debug for FleetPace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetPace")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

/// The script's answer.
struct Step {
    given: bool,
    wait: Duration,
    epoch: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl FleetPace {
    /// Connects to the fleet's Redis (within a few seconds).
    pub(crate) async fn connect(
        fleet: Fleet,
        config: Pacing,
        health: Arc<HealthTracker>,
    ) -> Result<Self, FleetError> {
        let client = redis::Client::open(fleet.url.as_str()).map_err(|e| FleetError::Url {
            url: fleet.redacted_url(),
            reason: fleet.scrub(&e.to_string()),
        })?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, settings)
            .await
            .map_err(|e| FleetError::Connect {
                url: fleet.redacted_url(),
                reason: fleet.scrub(&e.to_string()),
            })?;
        info!(url = %fleet.redacted_url(), key = %fleet.key, "fleet pacing through Redis");
        Ok(Self {
            fleet,
            config,
            conn,
            script: redis::Script::new(LANE_SCRIPT),
            next_free: Mutex::new(HashMap::new()),
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
            health,
            seen: Mutex::new(HashSet::new()),
            cooling: Mutex::new(Cooling::default()),
            sharing: AtomicBool::new(false),
        })
    }

    fn cool_key(&self, model: &str, region: &str) -> String {
        format!("{}:cool:{model}:{region}", self.fleet.prefix())
    }

    /// Exchanges cool-downs with the fleet in the background, at most every `SHARE_EVERY`
    /// unless this process's health changed since (then again as long as it changes).
    fn share_health_soon(self: &Arc<Self>, now: Duration) {
        {
            let unhealthy = self.health.unhealthy().len();
            let cooling = self.cooling.lock().unwrap_or_else(PoisonError::into_inner);
            if cooling.unhealthy == unhealthy
                && cooling
                    .last
                    .is_some_and(|last| now < last.saturating_add(SHARE_EVERY))
            {
                return;
            }
        }
        if self.sharing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sharing.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            loop {
                let unhealthy = this.health.unhealthy().len();
                {
                    let mut cooling = this.cooling.lock().unwrap_or_else(PoisonError::into_inner);
                    cooling.last = Some(now);
                    cooling.unhealthy = unhealthy;
                }
                this.share_health(now).await;
                if this.health.unhealthy().len() == unhealthy {
                    break;
                }
            }
            this.sharing.store(false, Ordering::Release);
        });
    }

    /// Writes this process's new cool-downs as keys with their remaining time to live, and
    /// cools down here the paced targets the fleet's keys say are cooling.
    pub(crate) async fn share_health(&self, now: Duration) {
        if self.down(now) {
            return;
        }
        let mut pipe = redis::pipe();
        {
            let mut cooling = self.cooling.lock().unwrap_or_else(PoisonError::into_inner);
            for (model, region, state) in self.health.unhealthy() {
                let TargetHealth::Cooling { remaining } = state else {
                    continue;
                };
                let target = (model, region);
                if cooling
                    .imported
                    .get(&target)
                    .is_some_and(|until| until.saturating_add(SLACK) >= now)
                {
                    continue;
                }
                let until = now.saturating_add(remaining);
                if cooling
                    .published
                    .get(&target)
                    .is_some_and(|at| at.saturating_add(SLACK) >= until)
                {
                    continue;
                }
                pipe.cmd("SET")
                    .arg(self.cool_key(&target.0, &target.1))
                    .arg(1)
                    .arg("PX")
                    .arg(
                        u64::try_from(remaining.as_millis())
                            .unwrap_or(u64::MAX)
                            .clamp(1, MOST_MS),
                    )
                    .ignore();
                cooling.published.insert(target, until);
            }
        }
        let seen: Vec<(String, String)> = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        for (model, region) in &seen {
            pipe.cmd("PTTL").arg(self.cool_key(model, region));
        }
        let mut conn = self.conn.clone();
        let ttls: Vec<i64> = match pipe.query_async(&mut conn).await {
            Ok(ttls) => ttls,
            Err(error) => {
                self.failed(now, &error);
                return;
            }
        };
        let mut cooling = self.cooling.lock().unwrap_or_else(PoisonError::into_inner);
        for (target, ttl) in seen.into_iter().zip(ttls) {
            let Ok(ttl) = u64::try_from(ttl) else {
                continue;
            };
            let mine = cooling
                .published
                .get(&target)
                .is_some_and(|until| until.saturating_add(SLACK) >= now);
            if ttl == 0 || mine || self.health.state(&target.0, &target.1) != TargetHealth::Healthy
            {
                continue;
            }
            self.health.trip(&target.0, &target.1);
            info!(
                model = %target.0,
                region = %target.1,
                "target cooling down in the fleet: cooling down here too"
            );
            cooling
                .imported
                .insert(target, now.saturating_add(Duration::from_millis(ttl)));
        }
    }

    fn lane_key(&self, model: &str, region: &str) -> String {
        format!("{}:pace:{model}:{region}", self.fleet.prefix())
    }

    fn down(&self, now: Duration) -> bool {
        let mut down = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *down {
            Some(until) if now < until => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, now: Duration, error: &redis::RedisError) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now.saturating_add(RETRY_AFTER));
        if !self.warned.swap(true, Ordering::Relaxed) {
            warn!(
                url = %self.fleet.redacted_url(),
                error = %self.fleet.scrub(&error.to_string()),
                "Redis unreachable: pacing goes on per process (tried again every few seconds)"
            );
        }
    }

    /// Runs one step of the lane script; `None` when Redis failed (or failed recently).
    async fn step(
        &self,
        model: &str,
        region: &str,
        now: Duration,
        op: &str,
        extra: [String; 2],
    ) -> Option<Step> {
        if self.down(now) {
            return None;
        }
        let quota = self
            .config
            .quotas()
            .iter()
            .find(|q| q.applies(model, region));
        let seed = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        let mut conn = self.conn.clone();
        let answer: Result<(u8, u64, u64, u64), _> = self
            .script
            .key(self.lane_key(model, region))
            .arg(op)
            .arg(micros(self.config.window_len()).max(1))
            .arg(self.config.headroom_share())
            .arg(self.config.decrease_factor())
            .arg(self.config.increase_share())
            .arg(if self.config.learns() { "1" } else { "0" })
            .arg(seed(quota.and_then(|q| q.limits().0)))
            .arg(seed(quota.and_then(|q| q.limits().1)))
            .arg(u64::try_from(self.fleet.lease.as_millis()).unwrap_or(u64::MAX))
            .arg(&extra[0])
            .arg(&extra[1])
            .invoke_async(&mut conn)
            .await;
        match answer {
            Ok((given, wait, epoch, next)) => {
                if self.warned.swap(false, Ordering::Relaxed) {
                    info!(
                        url = %self.fleet.redacted_url(),
                        "Redis reachable again: pacing is shared with the fleet again"
                    );
                }
                self.next_free
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        (model.to_owned(), region.to_owned()),
                        now.saturating_add(Duration::from_micros(next)),
                    );
                Some(Step {
                    given: given == 1,
                    wait: Duration::from_micros(wait),
                    epoch,
                })
            }
            Err(error) => {
                self.failed(now, &error);
                None
            }
        }
    }

    /// A place on the shared lane, as [`PaceStore::reserve`](crate::pacing::PaceStore); `None`
    /// when Redis cannot be asked.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        model: &str,
        region: &str,
        tokens: u64,
        now: Duration,
        max_wait: Duration,
    ) -> Option<Result<Reservation, Duration>> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((model.to_owned(), region.to_owned()));
        self.share_health_soon(now);
        let step = self
            .step(
                model,
                region,
                now,
                "reserve",
                [tokens.to_string(), micros(max_wait).to_string()],
            )
            .await?;
        Some(if step.given {
            Ok(Reservation {
                wait: step.wait,
                epoch: step.epoch,
                shared: true,
            })
        } else {
            Err(step.wait)
        })
    }

    /// The shared lane's throttle count; `None` when Redis cannot be asked.
    pub(crate) async fn epoch(&self, model: &str, region: &str, now: Duration) -> Option<u64> {
        self.step(model, region, now, "epoch", [String::new(), String::new()])
            .await
            .map(|s| s.epoch)
    }

    /// The wait this process last saw for the lane, for ordering targets.
    pub(crate) fn wait_hint(&self, model: &str, region: &str, now: Duration) -> Duration {
        self.next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(model.to_owned(), region.to_owned()))
            .map_or(Duration::ZERO, |at| at.saturating_sub(now))
    }

    /// Reports an answer to the shared lane, in the background.
    pub(crate) fn succeeded(
        self: &Arc<Self>,
        model: &str,
        region: &str,
        reserved: u64,
        used: Option<u64>,
        now: Duration,
    ) {
        let used = used.unwrap_or(reserved);
        self.background(
            model,
            region,
            now,
            "ok",
            [reserved.to_string(), used.to_string()],
        );
    }

    /// Reports a throttle to the shared lane, in the background.
    pub(crate) fn throttled(
        self: &Arc<Self>,
        model: &str,
        region: &str,
        limit: Limit,
        now: Duration,
    ) {
        let which = match limit {
            Limit::Requests => "r",
            Limit::Tokens => "t",
        };
        self.background(
            model,
            region,
            now,
            "throttle",
            [which.to_owned(), String::new()],
        );
    }

    /// Reports a place that ended with nothing to report, as
    /// [`PaceStore::abandoned`](crate::pacing::PaceStore::abandoned), in the background: unsent,
    /// it is given back to the shared lane unless a throttle since `epoch` cleared the queue;
    /// sent, it counts as served.
    pub(crate) fn abandoned(
        self: &Arc<Self>,
        model: &str,
        region: &str,
        reserved: u64,
        sent: bool,
        epoch: u64,
        now: Duration,
    ) {
        let (op, extra) = Self::abandon_step(reserved, sent, epoch);
        self.background(model, region, now, op, extra);
    }

    /// The lane script's step for an abandoned place.
    fn abandon_step(reserved: u64, sent: bool, epoch: u64) -> (&'static str, [String; 2]) {
        let op = if sent { "sent" } else { "unsent" };
        (op, [reserved.to_string(), epoch.to_string()])
    }

    fn background(
        self: &Arc<Self>,
        model: &str,
        region: &str,
        now: Duration,
        op: &'static str,
        extra: [String; 2],
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Arc::clone(self);
        let (model, region) = (model.to_owned(), region.to_owned());
        runtime.spawn(async move {
            this.step(&model, &region, now, op, extra).await;
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use crate::pacing::{Pacer, Quota};
    use std::sync::OnceLock;

    /// `REDIS_URL`, or a throwaway server started once with `.ci/redis.sh` (stopped when this
    /// test process exits). Fails with a clear message when neither is possible.
    pub(crate) fn redis_url() -> String {
        static URL: OnceLock<String> = OnceLock::new();
        URL.get_or_init(|| {
            if let Ok(url) = std::env::var("REDIS_URL")
                && !url.is_empty()
            {
                return url;
            }
            let script =
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis.sh");
            let out = std::process::Command::new("bash")
                .arg(&script)
                .env("REDIS_PARENT_PID", std::process::id().to_string())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "the fleet tests need Redis: set REDIS_URL to a running server, or install \
                 redis-server (Debian: apt-get install -y redis-server) so that .ci/redis.sh can \
                 start one:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
    }

    /// A unique key per test, so tests sharing one server share nothing.
    fn key(name: &str) -> String {
        format!("test-{name}-{}", std::process::id())
    }

    fn health() -> Arc<HealthTracker> {
        Arc::new(HealthTracker::new(
            bedrock_retry::HealthConfig::standard(),
            Arc::new(bedrock_retry::ManualClock::new()),
        ))
    }

    async fn store(fleet: Fleet, pacing: Pacing) -> Arc<FleetPace> {
        Arc::new(FleetPace::connect(fleet, pacing, health()).await.unwrap())
    }

    const M: &str = "m";
    const R: &str = "us-east-1";
    const SECOND: Duration = Duration::from_secs(1);

    /// The lane script is the Redis twin of `LocalPace`: one sequence of steps, at (nearly) one
    /// instant, gives the same waits from both, for a configured quota and for a learned one.
    #[tokio::test]
    async fn the_lane_script_paces_as_the_local_lanes_do() {
        use crate::pacing::{Limit, LocalPace, PaceStore as _};
        let seeded = Pacing::fixed()
            .quota(Quota::new(M).requests_per_minute(60))
            .headroom(1.0);
        let learned = Pacing::adaptive().headroom(1.0).window(60 * SECOND);
        for (name, pacing) in [("seeded", seeded), ("learned", learned)] {
            let local = LocalPace::new(pacing.clone());
            let fleet = store(Fleet::new(redis_url()).key(key(name)), pacing).await;
            let now = Duration::ZERO;
            let mut waits: (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
            // Five places; the first three answered with 10 tokens used; a throttle; two more.
            for n in 0..7 {
                if n == 5 {
                    local.throttled(M, R, Limit::Requests, now);
                    fleet
                        .step(M, R, now, "throttle", ["r".to_owned(), String::new()])
                        .await
                        .unwrap();
                }
                let place = local.reserve(M, R, 100, now, 60 * SECOND).unwrap();
                waits.0.push(place.wait);
                let shared = fleet
                    .reserve(M, R, 100, now, 60 * SECOND)
                    .await
                    .unwrap()
                    .unwrap();
                waits.1.push(shared.wait);
                if n < 3 {
                    local.succeeded(M, R, 100, Some(10), now);
                    fleet
                        .step(M, R, now, "ok", ["100".to_owned(), "10".to_owned()])
                        .await
                        .unwrap();
                }
            }
            // Redis's clock moves on a little between steps: the waits agree within 100 ms.
            for (at, (local, shared)) in waits.0.iter().zip(&waits.1).enumerate() {
                let gap = local.abs_diff(*shared);
                assert!(
                    gap < SECOND / 10,
                    "{name}, place {at}: local {local:?}, fleet {shared:?} ({waits:?})"
                );
            }
        }
    }

    #[tokio::test]
    async fn two_stores_on_one_redis_share_a_lane_and_other_keys_do_not() {
        let pacing = Pacing::fixed()
            .quota(Quota::new(M).requests_per_minute(60))
            .headroom(1.0);
        let fleet = Fleet::new(redis_url()).key(key("share"));
        let (a, b) = (
            store(fleet.clone(), pacing.clone()).await,
            store(fleet, pacing.clone()).await,
        );
        // One a second with a second of burst: two go at once, from either store.
        let now = Duration::ZERO;
        let first = a
            .reserve(M, R, 0, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(first.shared && first.wait.is_zero());
        assert!(
            b.reserve(M, R, 0, now, Duration::ZERO)
                .await
                .unwrap()
                .is_ok()
        );
        // The third, from either, would wait about a second.
        let wait = a
            .reserve(M, R, 0, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        assert!(wait > SECOND / 2 && wait <= SECOND, "{wait:?}");
        let place = b.reserve(M, R, 0, now, 2 * SECOND).await.unwrap().unwrap();
        assert!(place.wait > SECOND / 2, "{place:?}");
        // A throttle seen by one voids the other's place.
        assert_eq!(a.epoch(M, R, now).await, Some(place.epoch));
        a.step(M, R, now, "throttle", ["r".to_owned(), String::new()])
            .await
            .unwrap();
        assert_ne!(b.epoch(M, R, now).await, Some(place.epoch));
        // Another fleet key shares nothing.
        let other = store(Fleet::new(redis_url()).key(key("share-other")), pacing).await;
        let free = other
            .reserve(M, R, 0, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(free.wait.is_zero());
    }

    #[tokio::test]
    async fn a_dead_process_holds_nothing_after_its_places_pass_and_the_lease_ends() {
        let pacing = Pacing::fixed()
            .quota(Quota::new(M).requests_per_minute(600))
            .headroom(1.0);
        let fleet = Fleet::new(redis_url()).key(key("lease")).lease(SECOND);
        let lane = format!("llmm:{}:pace:{M}:{R}", fleet.key_name());
        let mut conn = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        {
            // Ten a second: a process takes 20 places (two seconds ahead), then dies.
            let doomed = store(fleet.clone(), pacing.clone()).await;
            for _ in 0..20 {
                doomed
                    .reserve(M, R, 0, Duration::ZERO, 5 * SECOND)
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        let survivor = store(fleet, pacing).await;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&lane)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            ttl > 1000 && ttl <= 3100,
            "the lease covers the places ahead: {ttl} ms"
        );
        let wait = survivor
            .reserve(M, R, 0, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        assert!(wait > SECOND / 2, "{wait:?}");
        // Once its places have passed, the lane is free again; after the lease the key is gone.
        #[allow(clippy::disallowed_methods, reason = "waits for Redis's own clock")]
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&lane)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(exists, 0);
        let place = survivor
            .reserve(M, R, 0, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(place.wait.is_zero());
    }

    #[tokio::test]
    async fn an_unsent_place_is_given_back_to_the_fleet_unless_a_throttle_cleared_the_queue() {
        // One request and 100 tokens a second, a second of burst.
        let pacing = Pacing::fixed()
            .quota(
                Quota::new(M)
                    .requests_per_minute(60)
                    .tokens_per_minute(6000),
            )
            .headroom(1.0);
        let fleet = Fleet::new(redis_url()).key(key("abandon"));
        let lane = format!("llmm:{}:pace:{M}:{R}", fleet.key_name());
        let (a, b) = (
            store(fleet.clone(), pacing.clone()).await,
            store(fleet, pacing).await,
        );
        let now = Duration::ZERO;
        let abandon = |reserved, sent, epoch| {
            let (op, extra) = FleetPace::abandon_step(reserved, sent, epoch);
            let a = Arc::clone(&a);
            async move { a.step(M, R, now, op, extra).await.unwrap() }
        };
        // a takes both places that go now; b would wait a second.
        a.reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        let lost = a
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        let wait = b
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        assert!(wait > SECOND / 2, "{wait:?}");
        // a's second is dropped before it was sent: its request and its tokens are given back,
        // and b goes at once.
        abandon(100, false, lost.epoch).await;
        let place = b
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(place.wait.is_zero(), "{place:?}");
        // Dropped after it was sent, a place stays taken and counts as served.
        let sent = a
            .reserve(M, R, 100, now, 2 * SECOND)
            .await
            .unwrap()
            .unwrap();
        abandon(100, true, sent.epoch).await;
        let wait = b
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        assert!(wait > SECOND, "{wait:?}");
        let mut conn = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let served: (u64, u64) = redis::cmd("HMGET")
            .arg(&lane)
            .arg("svn")
            .arg("svt")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(served, (1, 100));
        // A throttle clears the queue: a place given before it gives nothing back, since the
        // places queued behind the hold since then were not counted after it.
        let old = a
            .reserve(M, R, 100, now, 5 * SECOND)
            .await
            .unwrap()
            .unwrap();
        a.step(M, R, now, "throttle", ["r".to_owned(), String::new()])
            .await
            .unwrap();
        for _ in 0..3 {
            b.reserve(M, R, 100, now, 20 * SECOND)
                .await
                .unwrap()
                .unwrap();
        }
        let before = b
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        abandon(100, false, old.epoch).await;
        let after = b
            .reserve(M, R, 100, now, Duration::ZERO)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            after + SECOND / 2 > before,
            "nothing given back: {before:?} then {after:?}"
        );
    }

    #[tokio::test]
    async fn a_pacer_gives_an_unsent_fleet_place_back_to_the_fleet() {
        // One request every ten seconds: the place after a's waits nine, far longer than this
        // test looks for it freeing up.
        let pacing = Pacing::fixed()
            .quota(Quota::new(M).requests_per_minute(6))
            .headroom(1.0);
        let fleet = Fleet::new(redis_url()).key(key("pacer-abandon"));
        let a = Pacer::fleet(pacing.clone(), fleet.clone(), health())
            .await
            .unwrap();
        let b = store(fleet, pacing).await;
        let now = Duration::ZERO;
        let lost = a.reserve(M, R, 0, now, Duration::ZERO).await.unwrap();
        assert!(lost.shared);
        assert!(
            b.reserve(M, R, 0, now, Duration::ZERO)
                .await
                .unwrap()
                .is_err()
        );
        // Reported in the background: b's place frees up shortly.
        a.abandoned(M, R, 0, false, &lost, now);
        let mut freed = false;
        for _ in 0..100 {
            if b.reserve(M, R, 0, now, Duration::ZERO)
                .await
                .unwrap()
                .is_ok()
            {
                freed = true;
                break;
            }
            #[allow(clippy::disallowed_methods, reason = "waits for the background report")]
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(freed, "the place was not given back to the fleet");
    }

    #[tokio::test]
    async fn extreme_leases_and_quotas_keep_the_lane_in_redis_with_an_expiry() {
        let mut conn = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        // The longest lease, and a quota of nothing that a huge request overruns by ages.
        let fleet = Fleet::new(redis_url())
            .key(key("extreme"))
            .lease(Duration::MAX);
        let lane = format!("llmm:{}:pace:{M}:{R}", fleet.key_name());
        let pacing = Pacing::fixed().quota(Quota::new(M).tokens_per_minute(0));
        let s = store(fleet, pacing).await;
        let now = Duration::ZERO;
        let place = s.reserve(M, R, u64::MAX, now, Duration::ZERO).await;
        assert!(matches!(place, Some(Ok(_))), "{place:?}");
        let next = s.reserve(M, R, 1, now, Duration::MAX).await;
        assert!(matches!(next, Some(Err(wait)) if wait > SECOND), "{next:?}");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&lane)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{ttl}");
    }

    #[tokio::test]
    async fn an_endless_cool_down_is_shared_with_an_expiry() {
        let config = bedrock_retry::HealthConfig::standard()
            .with_failure_threshold(1)
            .with_cool_down(Duration::MAX)
            .with_max_cool_down(Duration::MAX);
        let health = Arc::new(HealthTracker::new(
            config,
            Arc::new(bedrock_retry::ManualClock::new()),
        ));
        let fleet = Fleet::new(redis_url()).key(key("endless"));
        let s = FleetPace::connect(fleet.clone(), Pacing::adaptive(), Arc::clone(&health))
            .await
            .unwrap();
        health.record_failure(M, R);
        assert!(matches!(health.state(M, R), TargetHealth::Cooling { .. }));
        s.share_health(Duration::ZERO).await;
        assert!(!s.down(Duration::ZERO), "the exchange failed");
        let mut conn = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("llmm:{}:cool:{M}:{R}", fleet.key_name()))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{ttl}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_the_build_with_the_url_redacted() {
        // Nothing listens on port 1.
        let error = FleetPace::connect(
            Fleet::new("redis://:pw@127.0.0.1:1"),
            Pacing::adaptive(),
            health(),
        )
        .await
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("redis://:***@127.0.0.1:1") && !text.contains("pw"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_url_with_an_unencoded_password_fails_the_build_without_showing_it() {
        for url in ["redis://:a/pw@127.0.0.1:1", "redis://:pw#b@127.0.0.1:1"] {
            let error = FleetPace::connect(Fleet::new(url), Pacing::adaptive(), health())
                .await
                .unwrap_err();
            let text = format!("{error} {error:?}");
            assert!(!text.contains("pw"), "{text}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
            ("redis://user:pw@host", "redis://user:***@host"),
            ("redis://pw@host", "redis://***@host"),
            ("rediss://host:6380", "rediss://host:6380"),
            ("redis://host/1?password=pw", "redis://host/1"),
            ("redis://u:p@ss@host", "redis://u:***@host"),
            // Unencoded, as pasted: still hidden whole.
            ("redis://:a/pw+b@host:6379/0", "redis://:***@host:6379/0"),
            ("redis://:x?pw#y@host/2?db=1", "redis://:***@host/2"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            assert!(!format!("{:?}", Fleet::new(url)).contains("pw"), "{url}");
        }
        assert_eq!(
            Fleet::new("redis://:hunter2@h").scrub("auth hunter2 failed"),
            "auth *** failed"
        );
    }
}
