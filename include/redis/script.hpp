// Lua scripts run by Redis (EVALSHA, with EVAL when the server lacks them), and the publish
// script of the Redis broker: one atomic server-side step per published message.
#pragma once

#include <string>
#include <string_view>

namespace herald::redis {

// A script's source and its SHA1 (lowercase hex), as EVALSHA names it.
struct Script {
    std::string_view source; // static text
    std::string sha1;
};
Script make_script(std::string_view source);

// Expiry of a channel's keys. `ttl` bounds the stream alone: it expires ttl after its newest
// message, and a read leaves out entries older than ttl, while the id counter and the epoch
// stay, so the channel's life (its epoch and id sequence) goes on as with the memory broker.
// The life of an autocreated channel (`channel_idle_timeout`, "life" below, in ms; 0 for a
// declared channel or no timeout: its keys never expire) ends when nobody used it for that
// long: the epoch is held `life` after the channel is made and after each message kept in the
// stream (for its ttl instead, when it has one), each node with subscribers or polls on it
// holds it with the touch script, and the id counter (and the stream, when no ttl bounds it)
// expire with it. A hold never shortens what a key has left; a key without expiry gets one.

// Publish one message on one channel, atomically.
// KEYS (one hash slot: every key carries the hash tag {prefix:channel}):
//   1 {prefix:channel}:seq    the id counter (INCR)
//   2 {prefix:channel}:buf    a stream of the last `buffer` messages; entry id "<id>-0",
//                             fields p (payload), t (content type), e (event name, may be
//                             empty), ms (Redis time, ms)
//   3 {prefix:channel}:epoch  a random token, set when missing: a Redis that lost the channel
//                             (flush, failover to an empty replica, the end of its life) gives
//                             a new epoch, and the id sequence restarts with it
// ARGV: 1 payload, 2 content type, 3 buffer (messages kept; 0 keeps none), 4 ttl in ms (0 =
//   none), 5 the pub/sub channel (normally {prefix:channel}, the same slot), 6 a fresh random
//   epoch candidate (used only if the epoch key is missing), 7 "1" for SPUBLISH (sharded
//   pub/sub), else PUBLISH, 8 the event name ("" for none), 9 life in ms (see above).
// A clock tick passes a fourth key, {prefix:channel}:tick, with ARGV 10 the tick's number
// (its time slot: wall-clock ms / interval) and 11 the key's lifetime in ms: the first node
// to run a slot publishes it, the others get {0, ""} and nothing happens, so several nodes
// publish a `source clock` channel once per interval between them.
// Publishes "<epoch>\n<id>\n<content type>\n<event>\n<payload>" and returns {id, epoch}.
inline constexpr std::string_view publish_script_source = R"lua(
local function hold(k, ms)
  local left = redis.call('PTTL', k)
  if left == -1 or left < ms then redis.call('PEXPIRE', k, ms) end
end
if #KEYS > 3 then
  local done = tonumber(redis.call('GET', KEYS[4]) or '0')
  if tonumber(ARGV[10]) <= done then return {0, ''} end
  redis.call('SET', KEYS[4], ARGV[10], 'PX', ARGV[11])
end
local epoch = redis.call('GET', KEYS[3])
local fresh = not epoch
if fresh then
  epoch = ARGV[6]
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[1], KEYS[2])
end
local id = redis.call('INCR', KEYS[1])
local keep, ttl, life = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[9])
if keep > 0 then
  local now = redis.call('TIME')
  local ms = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
  redis.call('XADD', KEYS[2], 'MAXLEN', '=', keep, id .. '-0', 'p', ARGV[1], 't', ARGV[2],
             'e', ARGV[8], 'ms', ms)
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
else
  redis.call('DEL', KEYS[2])
end
if life == 0 then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[3])
  if ttl == 0 then redis.call('PERSIST', KEYS[2]) end
else
  local ms = fresh and life or 0
  if keep > 0 then ms = math.max(ms, ttl > 0 and ttl or life) end
  if ms > 0 then hold(KEYS[3], ms) end
  local left = redis.call('PTTL', KEYS[3])
  if left > 0 then
    hold(KEYS[1], left)
    if ttl == 0 then hold(KEYS[2], left) end
  end
end
local message = epoch .. '\n' .. id .. '\n' .. ARGV[2] .. '\n' .. ARGV[8] .. '\n' .. ARGV[1]
if ARGV[7] == '1' then
  redis.call('SPUBLISH', ARGV[5], message)
else
  redis.call('PUBLISH', ARGV[5], message)
end
return {id, epoch}
)lua";

// Publish one message on several channels (a channel list), all or none: Redis runs a script
// whole, so nobody sees some of the channels published and not the others, and every key's
// type is checked before anything is written (a key of another type, not herald's, fails the
// script with nothing stored).
// KEYS: the publish script's three keys (seq, buf, epoch) of each channel, in list order (on
// a Redis Cluster every key must lie in one hash slot: Redis refuses the script otherwise).
// ARGV: 1 payload, 2 content type, 3 event name ("" for none), 4 "1" for SPUBLISH, else
//   PUBLISH; then five per channel, in list order: buffer, ttl in ms, the pub/sub channel, a
//   fresh epoch candidate, life in ms (as the publish script's ARGV 3, 4, 5, 6 and 9).
// Each channel's message is stored, expired and published as by the publish script. Returns
// {{id, epoch}, ...} in list order.
inline constexpr std::string_view publish_many_script_source = R"lua(
local function hold(k, ms)
  local left = redis.call('PTTL', k)
  if left == -1 or left < ms then redis.call('PEXPIRE', k, ms) end
end
local kinds = {'string', 'stream', 'string'}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= kinds[(i - 1) % 3 + 1] then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. t)
  end
end
local now = redis.call('TIME')
local ms = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
local out = {}
for c = 0, #KEYS / 3 - 1 do
  local seq, buf, ek = KEYS[3 * c + 1], KEYS[3 * c + 2], KEYS[3 * c + 3]
  local a = 4 + 5 * c
  local keep, ttl, life = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 5])
  local epoch = redis.call('GET', ek)
  local fresh = not epoch
  if fresh then
    epoch = ARGV[a + 4]
    redis.call('SET', ek, epoch)
    redis.call('DEL', seq, buf)
  end
  local id = redis.call('INCR', seq)
  if keep > 0 then
    redis.call('XADD', buf, 'MAXLEN', '=', keep, id .. '-0', 'p', ARGV[1], 't', ARGV[2],
               'e', ARGV[3], 'ms', ms)
    if ttl > 0 then redis.call('PEXPIRE', buf, ttl) end
  else
    redis.call('DEL', buf)
  end
  if life == 0 then
    redis.call('PERSIST', seq)
    redis.call('PERSIST', ek)
    if ttl == 0 then redis.call('PERSIST', buf) end
  else
    local held = fresh and life or 0
    if keep > 0 then held = math.max(held, ttl > 0 and ttl or life) end
    if held > 0 then hold(ek, held) end
    local left = redis.call('PTTL', ek)
    if left > 0 then
      hold(seq, left)
      if ttl == 0 then hold(buf, left) end
    end
  end
  local message = epoch .. '\n' .. id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. ARGV[1]
  if ARGV[4] == '1' then
    redis.call('SPUBLISH', ARGV[a + 3], message)
  else
    redis.call('PUBLISH', ARGV[a + 3], message)
  end
  out[c + 1] = {id, epoch}
end
return out
)lua";

// A node's view of one channel, atomically: its epoch (set to ARGV[1] when missing, which
// starts a life: the id counter and stream go), the newest id, the newest ARGV[2] stream
// entries (XREVRANGE, newest first) that are not older than ARGV[3] ms (the ttl; 0 = none:
// entries are in publish order, so the first one too old ends the list), and Redis's time in
// ms (for the age of each entry's `ms`). ARGV[4]: life in ms for a new epoch key (0 = none).
// KEYS as for the publish script. Returns {epoch, last id, entries, now}.
inline constexpr std::string_view sync_script_source = R"lua(
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[3], epoch)
  redis.call('DEL', KEYS[1], KEYS[2])
  local life = tonumber(ARGV[4])
  if life > 0 then redis.call('PEXPIRE', KEYS[3], life) end
end
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local entries = {}
local keep, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if keep > 0 then entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', keep) end
if ttl > 0 then
  for i = 1, #entries do
    local f, at = entries[i][2], nil
    for j = 1, #f - 1, 2 do
      if f[j] == 'ms' then at = tonumber(f[j + 1]) end
    end
    if at and at + ttl <= now then
      for j = #entries, i, -1 do entries[j] = nil end
      break
    end
  end
end
return {epoch, last, entries, now}
)lua";

// A node holds the life of an autocreated channel its clients use: each key (the stream only
// if ARGV[2] is "1": no ttl bounds it) expires no sooner than ARGV[1] ms from now. A channel
// without an epoch is not made. KEYS as for the publish script. Returns 1 if the channel has
// an epoch, else 0.
inline constexpr std::string_view touch_script_source = R"lua(
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local ms = tonumber(ARGV[1])
local keys = {KEYS[1], KEYS[3]}
if ARGV[2] == '1' then keys[3] = KEYS[2] end
for _, k in ipairs(keys) do
  local left = redis.call('PTTL', k)
  if left == -1 or left < ms then redis.call('PEXPIRE', k, ms) end
end
return 1
)lua";

// DELETE of a channel: its keys go (the next publish starts a new life) and every node hears
// "close" on the pub/sub channel ARGV[1] (PUBLISH, or SPUBLISH when ARGV[2] is "1").
// KEYS as for the publish script. Returns 1 if the channel had an epoch, else 0.
inline constexpr std::string_view close_script_source = R"lua(
local had = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if ARGV[2] == '1' then
  redis.call('SPUBLISH', ARGV[1], 'close')
else
  redis.call('PUBLISH', ARGV[1], 'close')
end
return had > 0 and 1 or 0
)lua";

// The keys of one channel: "{" prefix channel "}" suffix, e.g. "{herald:news}:seq".
std::string channel_key(std::string_view prefix, std::string_view channel, std::string_view suffix);

} // namespace herald::redis
