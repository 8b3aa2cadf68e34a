# The test app: "/" answers "PID RSS"; "/leak" keeps 1 MiB more first;
# "/stream" streams its answer in three writes; "/hang" never answers (with
# ?mark=PATH it writes its pid there first). Policy from WL_TEST_POLICY.
# With WL_HOSTS_CRASH=FILE (tests/hosts' crash_loop scenario, t/crashloop.t)
# every child appends its pid and "\n" to FILE and exits with status 1 as
# it starts, before serving: at the end of Starman's child_init_hook, or in
# place of Starlet's accept_loop. Without it nothing is wrapped.
use strict;
use warnings;
use Plack::Builder;

BEGIN {
    if (my $file = $ENV{WL_HOSTS_CRASH}) {
        my $crash = sub {
            open my $fh, '>>', $file or die "$file: $!";
            print $fh "$$\n";
            close $fh or die "$file: $!";
            exit 1;
        };
        no warnings qw(redefine once);
        # Whichever server runs this (both are wrapped; only the one running
        # calls its own).
        if (eval { require Starman::Server; 1 }) {
            my $init = \&Starman::Server::child_init_hook;
            *Starman::Server::child_init_hook = sub { $init->(@_); $crash->() };
        }
        if (eval { require Plack::Handler::Starlet; 1 }) {
            *Plack::Handler::Starlet::accept_loop = sub { $crash->() };
        }
    }
}

my @leaked;
my $page = 4096;

sub rss {
    open my $fh, '<', '/proc/self/statm' or return 0;
    my (undef, $resident) = split ' ', scalar <$fh>;
    return $resident * $page;
}

my $app = sub {
    my ($env) = @_;
    my $path = $env->{PATH_INFO};
    push @leaked, 'x' x (1 << 20) if $path eq '/leak';
    if ($path eq '/hang') {
        # A test waits for the mark to know its request is in a child.
        if (($env->{QUERY_STRING} // '') =~ /(?:^|&)mark=([^&]+)/) {
            (my $mark = $1) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
            open my $fh, '>', "$mark.tmp" or die "$mark.tmp: $!";
            print $fh "$$\n";
            close $fh;
            rename "$mark.tmp", $mark or die "$mark: $!";
        }
        select undef, undef, undef, 3600;    # stuck in a system call
    }
    if ($path eq '/stream') {
        return sub {
            my ($respond) = @_;
            my $w = $respond->([200, ['Content-Type' => 'text/plain']]);
            $w->write("$$ ");
            $w->write(rss());
            $w->write("\n");
            $w->close;
        };
    }
    my $body = "$$ " . rss() . "\n";
    return [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};

builder {
    enable 'WorkerLife', policy => $ENV{WL_TEST_POLICY} // '', stats_path => '/_workerlife',
        pool => $ENV{WL_TEST_POOL};
    $app;
};
