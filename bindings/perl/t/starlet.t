# Plack::Middleware::WorkerLife in a real Starlet on 127.0.0.1.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use TestServer;
use ServerTests;

ServerTests::run('starlet');
done_testing;
