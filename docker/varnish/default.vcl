# The edge in front of the API replicas (issue 20). Public answers are kept as their
# Cache-Control says (s-maxage; stale-while-revalidate is their grace), one variant per
# Vary (Accept-Encoding, Accept); answers marked private or no-store, and requests that
# carry credentials, are never stored. Each stored answer is indexed by the namespaces
# its Surrogate-Key names (vmod xkey, Debian's varnish-modules), and a write's
# `PURGE /` with `xkey-purge: <namespace>` (cidadao_gql/data/cache/edge.py) drops them.
# Run varnishd with `-p http_gzip_support=off`: the API compresses (zstd, br, gzip, by the
# client's weights) and Varnish must keep its variants, not make gzip of its own.
vcl 4.1;

import directors;
import xkey;

# backends.vcl defines the backends and a round-robin director named `api`; entrypoint.sh
# writes it from the addresses the API's name resolves to (Varnish takes one per backend).
include "backends.vcl";

acl purgers {
    "localhost";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    set req.backend_hint = api.backend();
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "purges come from the API's own network"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "name the namespaces to purge in xkey-purge"));
        }
        set req.http.x-purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "purged " + req.http.x-purged));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # A key, a token or the session's cookie: the answer may be the caller's own.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)cgql_session=") {
        return (pass);
    }
    unset req.http.Cookie;  # others (analytics') change nothing the API answers
    return (hash);
}

sub vcl_backend_response {
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}

sub vcl_deliver {
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Edge = "hit";
    } else {
        set resp.http.X-Edge = "miss";
    }
}
