# The edge in front of the API replicas (issue 20). Only GET and HEAD of /graphql and /q/
# are looked up; public answers are kept as their Cache-Control says (s-maxage;
# stale-while-revalidate is their grace), one variant per Vary (Accept-Encoding, Accept);
# an answer without an explicit `public`, and requests that carry credentials, are never
# stored. Each stored answer is indexed by the namespaces its Surrogate-Key names (vmod
# xkey, Debian's varnish-modules), and a write's `PURGE /` with `xkey-purge: <namespace>`
# and the shared `edge-purge-token` (cidadao_gql/data/cache/edge.py) drops them.
# Run varnishd with `-p http_gzip_support=off`: the API compresses (zstd, br, gzip, by the
# client's weights) and Varnish must keep its variants, not make gzip of its own.
vcl 4.1;

import directors;
import std;
import var;
import xkey;

# backends.vcl defines the backends and a round-robin director named `api`; entrypoint.sh
# writes it from the addresses the API's name resolves to (Varnish takes one per backend).
include "backends.vcl";
# purge_token.vcl defines `sub purge_token`, which sets req.http.x-purge-allowed when the
# request's edge-purge-token is EDGE_PURGE_TOKEN; entrypoint.sh writes it (VCL reads no
# environment). Without a token, it allows no purge.
include "purge_token.vcl";

acl purgers {
    "localhost";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    set req.backend_hint = api.backend();
    # The caller's address, never what it says it forwards: the API charges its cost bucket
    # to X-Forwarded-For (uvicorn trusts this hop only: FORWARDED_ALLOW_IPS), and Varnish's
    # own would append to a forged one.
    set req.http.X-Forwarded-For = client.ip;
    unset req.http.x-purge-allowed;
    if (req.method == "PURGE") {
        call purge_token;
        if (client.ip !~ purgers || !req.http.x-purge-allowed) {
            return (synth(403, "purges come from the API, with its token"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "name the namespaces to purge in xkey-purge"));
        }
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "purged " + req.http.x-purged));
    }
    # This delivery's id (vcl_deliver sends it; stored answers keep none): the caller's when
    # it is one the API would take (1 to 64 of A-Za-z0-9._-), else Varnish's own.
    std.collect(req.http.X-Request-ID);
    if (req.http.X-Request-ID !~ "^[A-Za-z0-9._-]{1,64}$") {
        set req.http.X-Request-ID = "edge-" + req.xid;
    }
    # Two headers are one list to the API (RFC 9110 §5.3); Varnish's Vary reads the first:
    # one header, so that a variant holds what its key names.
    std.collect(req.http.Accept);
    call accept_encoding;
    if ((req.method != "GET" && req.method != "HEAD")
        || req.url !~ "^/(graphql(\?|$)|q/)") {
        return (pass);
    }
    # A key, a token or the session's cookie: the answer may be the caller's own.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)cgql_session=") {
        return (pass);
    }
    unset req.http.Cookie;  # others (analytics') change nothing the API answers
    return (hash);
}

# Accept-Encoding as the one coding the API would choose for it (web/encodings.py `chosen`):
# the weightiest of zstd, br, gzip by the client's q-values (`*` weighs those not named; an
# entry whose weight does not parse or lies outside 0..1 is not there), zstd, then br, then
# gzip on a tie; none (identity) when none weighs more than 0 or identity outweighs it. Four
# variants at most, each holding the coding its key names. tests/test_edge.py compares this
# with `chosen` through the real varnishd.
sub accept_encoding {
    std.collect(req.http.Accept-Encoding);
    if (!req.http.Accept-Encoding) {
        return;
    }
    set req.http.x-ae = "," + std.tolower(regsuball(req.http.Accept-Encoding, "\s+", "")) + ",";
    set req.http.x-q = "-1";
    if (req.http.x-ae ~ ",\*[,;]") {
        set req.http.x-q = regsub(req.http.x-ae, "^.*?,\*(?:;[^,;]*)*?;q=([^,;]*)[,;].*$", "\1");
        if (req.http.x-q == req.http.x-ae) { set req.http.x-q = "1"; }
    }
    var.set_real("*", std.real(req.http.x-q, -1));
    if (var.get_real("*") < 0 || var.get_real("*") > 1) { var.set_real("*", 0); }
    set req.http.x-q = "-1";
    if (req.http.x-ae ~ ",zstd[,;]") {
        set req.http.x-q = regsub(req.http.x-ae, "^.*?,zstd(?:;[^,;]*)*?;q=([^,;]*)[,;].*$", "\1");
        if (req.http.x-q == req.http.x-ae) { set req.http.x-q = "1"; }
    }
    var.set_real("zstd", std.real(req.http.x-q, -1));
    if (var.get_real("zstd") < 0 || var.get_real("zstd") > 1) { var.set_real("zstd", var.get_real("*")); }
    set req.http.x-q = "-1";
    if (req.http.x-ae ~ ",br[,;]") {
        set req.http.x-q = regsub(req.http.x-ae, "^.*?,br(?:;[^,;]*)*?;q=([^,;]*)[,;].*$", "\1");
        if (req.http.x-q == req.http.x-ae) { set req.http.x-q = "1"; }
    }
    var.set_real("br", std.real(req.http.x-q, -1));
    if (var.get_real("br") < 0 || var.get_real("br") > 1) { var.set_real("br", var.get_real("*")); }
    set req.http.x-q = "-1";
    if (req.http.x-ae ~ ",gzip[,;]") {
        set req.http.x-q = regsub(req.http.x-ae, "^.*?,gzip(?:;[^,;]*)*?;q=([^,;]*)[,;].*$", "\1");
        if (req.http.x-q == req.http.x-ae) { set req.http.x-q = "1"; }
    }
    var.set_real("gzip", std.real(req.http.x-q, -1));
    if (var.get_real("gzip") < 0 || var.get_real("gzip") > 1) { var.set_real("gzip", var.get_real("*")); }
    set req.http.x-q = "-1";
    if (req.http.x-ae ~ ",identity[,;]") {
        set req.http.x-q = regsub(req.http.x-ae, "^.*?,identity(?:;[^,;]*)*?;q=([^,;]*)[,;].*$", "\1");
        if (req.http.x-q == req.http.x-ae) { set req.http.x-q = "1"; }
    }
    var.set_real("identity", std.real(req.http.x-q, -1));
    if (var.get_real("identity") > 1) { var.set_real("identity", -1); }
    set req.http.Accept-Encoding = "zstd";
    var.set_real("best", var.get_real("zstd"));
    if (var.get_real("br") > var.get_real("best")) {
        set req.http.Accept-Encoding = "br";
        var.set_real("best", var.get_real("br"));
    }
    if (var.get_real("gzip") > var.get_real("best")) {
        set req.http.Accept-Encoding = "gzip";
        var.set_real("best", var.get_real("gzip"));
    }
    if (var.get_real("best") <= 0 || var.get_real("identity") > var.get_real("best")) {
        unset req.http.Accept-Encoding;
    }
    unset req.http.x-ae;
    unset req.http.x-q;
}

sub vcl_backend_response {
    unset beresp.http.X-Request-ID;  # one caller's: vcl_deliver sends each delivery's own
    # Only what says `public` is kept (not Varnish's default TTL for an answer without
    # Cache-Control): /metrics, /health and errors are never a hit.
    if (beresp.http.Cache-Control !~ "(^|,)\s*public\s*(,|$)"
        || beresp.http.Cache-Control ~ "(^|,)\s*(private|no-store|no-cache)\s*(,|=|$)") {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;  # hit-for-miss: the next such request goes straight through
        return (deliver);
    }
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}

sub vcl_deliver {
    unset resp.http.xkey;
    set resp.http.X-Request-ID = req.http.X-Request-ID;
    # Varnish answers If-None-Match itself, after this, matching a single tag only: a list
    # naming this answer's tag (weakly, as the API compares) or `*` becomes that tag, any
    # other is dropped, so the edge says 304 exactly when the API would.
    if (req.http.If-None-Match) {
        std.collect(req.http.If-None-Match);
        if (resp.status == 200 && resp.http.ETag
            && (req.http.If-None-Match ~ "^\s*\*\s*$"
                || (resp.http.ETag + " " + req.http.If-None-Match)
                    ~ {"^(?:W/)?("[^"]*") (?:.*,)?\s*(?:W/)?\1\s*(?:,|$)"})) {
            set req.http.If-None-Match = resp.http.ETag;
        } else {
            unset req.http.If-None-Match;
        }
    }
    if (obj.hits > 0) {
        set resp.http.X-Edge = "hit";
    } else {
        set resp.http.X-Edge = "miss";
    }
}
