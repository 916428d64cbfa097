-- wrk script for bench/closed_loop.py: the latency of every response, by status.
--
-- Run with as many threads as connections (-tN -cN): each wrk thread then drives one
-- connection, so request() and response() alternate and the time between them is that
-- request's latency as the client saw it (closed loop: the next request goes out the
-- moment the response is in). wrk's own histogram mixes every status; the benchmark
-- needs the 2xx apart. Writes {"ok": [seconds...], "other": [status * 1e6 + seconds...]}
-- to the file named by WRK_OUT. The clock is CLOCK_MONOTONIC through LuaJIT's FFI.
local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } poise_timespec;
int clock_gettime(int clk_id, poise_timespec *tp);
]])
local timespec = ffi.new("poise_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = {}
  other = {}
  sent = 0
end

function request()
  sent = now()
  return wrk.format(nil, nil)
end

function response(status, headers, body)
  local latency = now() - sent
  if status >= 200 and status < 300 then
    ok[#ok + 1] = latency
  else
    other[#other + 1] = status * 1e6 + latency
  end
end

local function write_list(out, name)
  out:write("\"" .. name .. "\":[")
  local first = true
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get(name)) do
      if not first then out:write(",") end
      first = false
      out:write(string.format("%.6f", value))
    end
  end
  out:write("]")
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("WRK_OUT"), "w"))
  out:write("{")
  write_list(out, "ok")
  out:write(",")
  write_list(out, "other")
  out:write("}")
  out:close()
end
