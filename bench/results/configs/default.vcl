vcl 4.1;
# The built-in VCL does the rest: lookups for GET/HEAD, TTL from Cache-Control.
backend origin {
    .host = "127.0.0.1";
    .port = "28100";
}
