#!/usr/bin/perl
# Write a small MaxMind DB for the tests, in the GeoLite2-ASN or GeoLite2-Country layout.
#
#   mkmmdb.pl OUT.mmdb asn     192.0.2.0/24=64500:Example Org  2001:db8::/32=64501:Doc Net
#   mkmmdb.pl OUT.mmdb country 192.0.2.0/24=DE                 2001:db8::/32=FR
#
# The tree is IPv6 with IPv4 aliased (::ffff:0:0/96, 6to4 and Teredo point at ::/96), as the
# MaxMind and DB-IP files are, so IPv4 lookups and IPv4-mapped lookups both work. Reserved and
# documentation networks are kept, because the tests use them. Later specs overwrite earlier
# ones where they overlap. Arguments are taken as UTF-8. Needs libmaxmind-db-writer-perl.
use strict;
use warnings;

use Encode qw(decode);
use MaxMind::DB::Writer::Tree;

sub usage {
    print STDERR "usage: $0 OUT.mmdb asn|country CIDR=VALUE...\n",
        "  asn:     CIDR=ASN:ORGANISATION (e.g. 192.0.2.0/24=64500:Example Org)\n",
        "  country: CIDR=ISO (e.g. 2001:db8::/32=DE)\n";
    exit 2;
}

sub fail {
    print STDERR "$0: @_\n";
    exit 1;
}

usage() if @ARGV < 3;
my ($out, $type, @specs) = @ARGV;
usage() unless $type eq 'asn' || $type eq 'country';

my %types = (
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
    country                        => 'map',
    iso_code                       => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => $type eq 'asn' ? 'GeoLite2-ASN' : 'GeoLite2-Country',
    languages                => ['en'],
    description              => { en => "minewall test $type database" },
    map_key_type_callback    => sub { $types{ $_[0] } // die "no type for key $_[0]\n" },
    alias_ipv6_to_ipv4       => 1,
    remove_reserved_networks => 0,
);

for my $spec (@specs) {
    my $text = eval { decode('UTF-8', $spec, Encode::FB_CROAK | Encode::LEAVE_SRC) }
        // fail("'$spec': not UTF-8");
    my ($cidr, $value) = split /=/, $text, 2;
    fail("'$spec': expected CIDR=VALUE") unless defined $value;
    fail("'$spec': bad network '$cidr'")
        unless $cidr =~ m{^[0-9A-Fa-f:.]+/[0-9]{1,3}$};

    my $data;
    if ($type eq 'asn') {
        my ($asn, $org) = $value =~ /^([0-9]{1,10})(?::(.*))?$/s
            or fail("'$spec': expected ASN:ORGANISATION");
        fail("'$spec': ASN out of range") if $asn > 4294967295;
        $data = { autonomous_system_number => $asn + 0 };
        $data->{autonomous_system_organization} = $org if defined $org;
    } else {
        fail("'$spec': expected a two-letter country code") unless $value =~ /^[A-Za-z]{2}$/;
        $data = { country => { iso_code => uc $value } };
    }
    eval { $tree->insert_network($cidr, $data); 1 } or fail("'$spec': $@");
}

open my $fh, '>:raw', $out or fail("$out: $!");
$tree->write_tree($fh);
close $fh or fail("$out: $!");
