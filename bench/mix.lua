-- wrk script: a realistic beacon mix for analyticsd's ingest.
--   * paths Zipf-distributed over 500 pages (s = 1.1)
--   * ~4,000 distinct user agents, about 10% of requests from bots
--   * a client IP per request through X-Forwarded-For (the daemon trusts loopback)
--   * BATCH > 0 (environment) sends /api/batch with that many events per request
local site = os.getenv("SITE") or "bench.example"
local batch = tonumber(os.getenv("BATCH") or "0")
local n_paths = 500
local cumulative = {}
local uas, bots = {}, {}
local counter = 0

local function build()
  local total = 0
  for i = 1, n_paths do
    total = total + 1 / (i ^ 1.1)
    cumulative[i] = total
  end
  for i = 1, n_paths do cumulative[i] = cumulative[i] / total end
  local oses = {"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                "X11; Linux x86_64", "Linux; Android 14; Pixel 8", "iPhone; CPU iPhone OS 17_4 like Mac OS X",
                "Linux; Android 13; SM-S911B", "iPad; CPU OS 17_3 like Mac OS X", "X11; Ubuntu; Linux x86_64"}
  for v = 80, 129 do
    for _, os_ in ipairs(oses) do
      for patch = 0, 4 do
        uas[#uas + 1] = string.format(
          "Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36",
          os_, v, 6000 + patch * 17, patch * 31)
        uas[#uas + 1] = string.format(
          "Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.%d", os_, v, v, patch)
      end
    end
  end
  local names = {"Googlebot/2.1 (+http://www.google.com/bot.html)", "bingbot/2.0", "AhrefsBot/7.0",
                 "YandexBot/3.0", "SemrushBot/7~bl", "DuckDuckBot/1.1", "HeadlessChrome/120.0.0.0",
                 "python-requests/2.31.0", "curl/8.5.0", "Applebot/0.1"}
  for _, n in ipairs(names) do
    for v = 1, 20 do
      bots[#bots + 1] = string.format("Mozilla/5.0 (compatible; %s; build %d)", n, v)
    end
  end
end

local function page()
  local r = math.random()
  local lo, hi = 1, n_paths
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cumulative[mid] < r then lo = mid + 1 else hi = mid end
  end
  return "/page/" .. lo
end

local function event_json()
  return string.format('{"siteId":"%s","eventType":"pageview","path":"%s","referrer":"https://news.example/item?id=%d","screenWidth":%d}',
    site, page(), math.random(1, 1000), ({375, 768, 1280, 1920})[math.random(1, 4)])
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  build()
end

function request()
  counter = counter + 1
  local ua
  if math.random() < 0.1 then ua = bots[math.random(1, #bots)] else ua = uas[math.random(1, #uas)] end
  local ip = string.format("198.51.%d.%d", math.random(0, 255), math.random(1, 254))
  local headers = {["Content-Type"] = "text/plain;charset=UTF-8", ["User-Agent"] = ua,
                   ["X-Forwarded-For"] = ip}
  if batch > 0 then
    local items = {}
    for i = 1, batch do items[i] = event_json() end
    return wrk.format("POST", "/api/batch", headers, '{"events":[' .. table.concat(items, ",") .. ']}')
  end
  return wrk.format("POST", "/api/event", headers, event_json())
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
