package Layout;

# Where the files the tests read live: in the repository (bindings/perl/t,
# the header, Cargo.toml, the shared vectors and the examples at its root)
# or in the CPAN distribution (packaging/build: t/ with include/, rust/,
# examples/ beside it and the vectors in t/vectors).

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;

my $T = File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__), '..'));
my $TOP = File::Spec->catdir($T, '..');
my $REPO = File::Spec->catdir($TOP, '..', '..');
my $DIST = -e File::Spec->catfile($TOP, qw(rust Cargo.toml));

# True in the distribution.
sub in_dist { return $DIST }

sub header { return File::Spec->catfile($DIST ? $TOP : $REPO, qw(include workerlife.h)) }

# The Cargo.toml holding the workspace's version.
sub cargo_toml { return $DIST ? File::Spec->catfile($TOP, qw(rust Cargo.toml)) : File::Spec->catfile($REPO, 'Cargo.toml') }

# The shared test vectors' directory.
sub vectors { return $DIST ? File::Spec->catdir($T, 'vectors') : File::Spec->catdir($REPO, qw(tests vectors)) }

# A Perl example by file name.
sub example {
    my ($name) = @_;
    return $DIST ? File::Spec->catfile($TOP, 'examples', $name) : File::Spec->catfile($REPO, qw(examples perl), $name);
}

1;
