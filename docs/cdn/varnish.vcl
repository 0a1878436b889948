vcl 4.1;
# Varnish (7.1, Debian 12) as the edge in front of prepd origins: the
# reference configuration, and the one tests/integration/t7010-edge.sh
# runs (it replaces the backend's port and nothing else). Read with
# docs/cdn/README.md.
#
# Run it with two listeners, the public one and one for purges only:
#   varnishd -a :80 -a purge=127.0.0.1:6091 -f /etc/varnish/prepd.vcl -s malloc,1g
# and point prepd's [purge NAME] Varnish target at http://127.0.0.1:6091/.
# Purges are refused on the public listener whatever the address, and on
# the purge listener from addresses outside the purgers ACL.
#
# What it does:
# - honours the origin's CDN TTL: Surrogate-Control max-age (the Edge
#   Architecture Specification 1.0, which the edge removes before it
#   delivers), then Cache-Control s-maxage, then max-age (Varnish's own
#   rule); stale-while-revalidate and stale-if-error become the grace;
# - PURGE PATH drops that path (every variant); BAN with prepd's
#   X-PREP-Ban drops every object of another cut (or everything); BAN
#   with a tag header (Surrogate-Key: prep-percut) drops every object
#   tagged so; BAN PATH without either drops that path; BAN with
#   "X-Ban-All: yes" drops everything;
# - never stores an answer the origin said not to store (no-store,
#   private, Surrogate-Control no-store), nor a 404 of a fingerprinted
#   file for more than a second (an origin that had not the new cut yet);
# - an origin that says it is behind its fleet (no-store on a per-cut file,
#   or X-PREP-Behind) is asked
#   again through the load balancer, which picks another origin, so the
#   edge does not hand a visitor an older cut than it already served;
# - compresses text the origin sent uncompressed, and keeps X-PREP-Cut.

import std;

# The load balancer (HAProxy, docs/cdn/haproxy.cfg) or a single prepd.
# PROXY protocol v2 carries the visitor's address on to HAProxy (and from
# there to prepd, which logs and limits by it); drop .proxy_header when
# the backend does not expect it.
backend lb {
	.host = "127.0.0.1";
	.port = "8090";
	.proxy_header = 2;
	.connect_timeout = 2s;
	.first_byte_timeout = 10s;
	.between_bytes_timeout = 10s;
	.probe = {
		.request = "GET /haproxy-health HTTP/1.1"
			"Host: edge-probe"
			"Connection: close";
		.expected_response = 200;
		.interval = 1s;
		.timeout = 1s;
		.window = 3;
		.threshold = 2;
		.initial = 2;
	}
}

# Who may purge: prepd's origins (each origin sends its own purges). Put
# the origins' addresses here when they are on other machines.
acl purgers {
	"127.0.0.1";
	"::1";
}

sub vcl_recv {
	if (req.method == "PURGE" || req.method == "BAN") {
		if (local.socket != "purge") {
			return (synth(405, "Method Not Allowed"));
		}
		if (client.ip !~ purgers) {
			return (synth(403, "Forbidden"));
		}
		if (req.method == "PURGE") {
			return (purge);
		}
		call prep_ban;
	}
	if (local.socket == "purge") {
		return (synth(405, "Method Not Allowed"));
	}
	if (req.method != "GET" && req.method != "HEAD") {
		# prepd serves GET and HEAD only; answer here, not at the origin.
		return (synth(405, "Method Not Allowed"));
	}
	# The results site has no sessions: a cookie or credentials must not
	# make every visitor a miss.
	unset req.http.Cookie;
	unset req.http.Authorization;
	# prepd ignores the query string; one object per path.
	set req.url = regsub(req.url, "\?.*$", "");
	# Set only by this edge.
	if (req.restarts == 0) {
		unset req.http.X-Edge-Refresh;
	} else if (req.http.X-Edge-Refresh) {
		set req.hash_always_miss = true;
	}
	unset req.http.X-PREP-Edge-Retry;
	return (hash);
}

# One ban per call; the purge listener answers 200 with what was banned.
sub prep_ban {
	if (req.http.X-Ban-All == "yes") {
		ban("obj.status != 0");
		return (synth(200, "Banned all"));
	}
	# prepd's own ban ([purge NAME] type = varnish, by = cut or
	# everything): every object of another cut than the one just served
	# fleet-wide, or everything. Only these two forms are run: a ban
	# expression from a header is code, and the ACL is the only other
	# guard.
	if (req.http.X-PREP-Ban) {
		if (req.http.X-PREP-Ban == "obj.status != 0" ||
		    req.http.X-PREP-Ban ~ {"^obj\.http\.X-PREP-Cut !~ "label=([A-Za-z0-9_-]|\[\.\])+\(;\|\$\)"$"}) {
			ban(req.http.X-PREP-Ban);
			return (synth(200, "Banned"));
		}
		return (synth(400, "Bad X-PREP-Ban"));
	}
	# A tag, or a list of tags, as prepd's Surrogate-Key names them:
	# the cut label and the content class.
	if (req.http.Surrogate-Key || req.http.X-Ban-Tag || req.http.Cache-Tag) {
		set req.http.X-Tags = req.http.Surrogate-Key;
		if (!req.http.X-Tags) {
			set req.http.X-Tags = req.http.X-Ban-Tag;
		}
		if (!req.http.X-Tags) {
			set req.http.X-Tags = req.http.Cache-Tag;
		}
		set req.http.X-Tags = regsuball(req.http.X-Tags, "[ ,]+", " ");
		set req.http.X-Tags = regsuball(req.http.X-Tags, "^ | $", "");
		if (req.http.X-Tags !~ "^[A-Za-z0-9._:-]+( [A-Za-z0-9._:-]+)*$") {
			return (synth(400, "Bad tag list"));
		}
		# Dots are literal in a tag; any listed tag matches.
		set req.http.X-Tags = regsuball(req.http.X-Tags, "\.", "\\.");
		set req.http.X-Tags = regsuball(req.http.X-Tags, " ", "|");
		ban("obj.http.Surrogate-Key ~ (^|\s)(" + req.http.X-Tags + ")(\s|$)");
		return (synth(200, "Banned"));
	}
	if (req.url !~ "^/") {
		return (synth(400, "Bad path"));
	}
	# Lurker-friendly: the URL is matched on the object, not the request.
	ban("obj.http.X-Edge-Url == " + regsub(req.url, "\?.*$", ""));
	return (synth(200, "Banned"));
}

sub vcl_hash {
	# One site per edge: the object is the path. A PURGE then needs no
	# Host header matching the public name. An edge serving several sites
	# adds hash_data(req.http.host) and has its purgers send the Host.
	hash_data(req.url);
	return (lookup);
}

sub vcl_purge {
	return (synth(200, "Purged"));
}

sub vcl_hit {
	if (obj.ttl >= 0s) {
		return (deliver);
	}
	# Stale: within stale-while-revalidate, deliver and refresh in the
	# background; past it, only while the origins are down
	# (stale-if-error), else fetch.
	if (obj.ttl + std.duration(obj.http.X-Edge-SWR + "s", 0s) > 0s) {
		return (deliver);
	}
	if (!std.healthy(req.backend_hint) && obj.ttl + obj.grace > 0s) {
		return (deliver);
	}
	# Too stale while the origins are up: fetch it now, once (Varnish 7
	# has no return (miss) here).
	if (req.restarts == 0) {
		set req.http.X-Edge-Refresh = "1";
		return (restart);
	}
	return (deliver);
}

sub vcl_backend_fetch {
	set bereq.http.X-Forwarded-Proto = "http";
	if (bereq.retries > 0) {
		set bereq.http.X-PREP-Edge-Retry = bereq.retries;
	}
}

sub vcl_backend_response {
	set beresp.http.X-Edge-Url = bereq.url;

	# An origin behind the newest cut of its fleet: ask again (HAProxy
	# balances the retry to another origin). Past the retries the answer
	# is delivered, never stored.
	# prepd says so with Cache-Control: no-store on a per-cut file
	# (Surrogate-Key prep-percut), or X-PREP-Behind.
	if ((beresp.http.X-PREP-Behind ||
	     (beresp.http.Cache-Control ~ "no-store" &&
	      beresp.http.Surrogate-Key ~ "(^| )prep-percut( |$)")) &&
	    bereq.retries < 3) {
		return (retry);
	}

	# The CDN TTL: Surrogate-Control wins over Cache-Control.
	set beresp.http.X-Edge-SWR = "0";
	set beresp.http.X-Edge-SIE = "0";
	if (beresp.http.Surrogate-Control) {
		if (beresp.http.Surrogate-Control ~ "(^|[,; ])no-store") {
			set beresp.uncacheable = true;
			set beresp.ttl = 1s;
			return (deliver);
		}
		if (beresp.http.Surrogate-Control ~ "(^|[,; ])max-age=[0-9]+") {
			set beresp.ttl = std.duration(regsub(beresp.http.Surrogate-Control,
				"^(.*[,; ])?max-age=([0-9]+).*$", "\2") + "s", 0s);
		}
		if (beresp.http.Surrogate-Control ~ "stale-while-revalidate=[0-9]+") {
			set beresp.http.X-Edge-SWR = regsub(beresp.http.Surrogate-Control,
				"^.*stale-while-revalidate=([0-9]+).*$", "\1");
		}
		if (beresp.http.Surrogate-Control ~ "stale-if-error=[0-9]+") {
			set beresp.http.X-Edge-SIE = regsub(beresp.http.Surrogate-Control,
				"^.*stale-if-error=([0-9]+).*$", "\1");
		}
	}
	if (beresp.http.X-Edge-SWR == "0" &&
	    beresp.http.Cache-Control ~ "stale-while-revalidate=[0-9]+") {
		set beresp.http.X-Edge-SWR = regsub(beresp.http.Cache-Control,
			"^.*stale-while-revalidate=([0-9]+).*$", "\1");
	}
	if (beresp.http.X-Edge-SIE == "0" &&
	    beresp.http.Cache-Control ~ "stale-if-error=[0-9]+") {
		set beresp.http.X-Edge-SIE = regsub(beresp.http.Cache-Control,
			"^.*stale-if-error=([0-9]+).*$", "\1");
	}
	if (beresp.http.Cache-Control ~ "(^|[,; ])(no-store|private)") {
		set beresp.uncacheable = true;
		set beresp.ttl = 1s;
		return (deliver);
	}
	# The grace is the longer of the two; vcl_hit tells them apart.
	if (std.integer(beresp.http.X-Edge-SWR, 0) > std.integer(beresp.http.X-Edge-SIE, 0)) {
		set beresp.grace = std.duration(beresp.http.X-Edge-SWR + "s", 0s);
	} else {
		set beresp.grace = std.duration(beresp.http.X-Edge-SIE + "s", 0s);
	}
	# Kept past the grace for conditional requests to the origin (a 304
	# refreshes an object without its body).
	set beresp.keep = 1h;

	# A fingerprinted file missing at one origin may exist at the next
	# (HAProxy retried them all): never keep the miss.
	if (beresp.status == 404 &&
	    bereq.url ~ "[.-][0-9a-f]{8,}\.[A-Za-z0-9]+$") {
		set beresp.uncacheable = true;
		set beresp.ttl = 1s;
		return (deliver);
	}
	# A refresh that failed keeps the stale object (stale-if-error).
	if (beresp.status >= 500 && bereq.is_bgfetch) {
		return (abandon);
	}
	if (beresp.http.Content-Type ~ "^(text/|application/(json|javascript|xml)|image/svg)" &&
	    !beresp.http.Content-Encoding) {
		set beresp.do_gzip = true;
	}
	return (deliver);
}

sub vcl_backend_error {
	# The origins cannot be reached and nothing stale is left.
	set beresp.http.Cache-Control = "no-store";
	set beresp.ttl = 0s;
}

sub vcl_deliver {
	# The surrogate's own headers stop here (Edge Architecture 1.0; Fastly
	# and CloudFront do the same with Surrogate-Key).
	unset resp.http.Surrogate-Control;
	unset resp.http.Surrogate-Key;
	unset resp.http.X-Edge-Url;
	unset resp.http.X-Edge-SWR;
	unset resp.http.X-Edge-SIE;
	unset resp.http.X-PREP-Behind;
	unset resp.http.Via;
	if (obj.hits > 0) {
		set resp.http.X-Cache = "HIT";
	} else {
		set resp.http.X-Cache = "MISS";
	}
	# X-PREP-Cut is the origin's and passes through untouched.
}
