"""Providers' documents → snapshot rows, and the snapshot text they are written as."""

from __future__ import annotations

import json

import pytest

from proxy.errors import Problem
from proxy.identity.networkformats import convert, render
from proxy.identity.networks import parse_snapshot_text

AWS = {
    "prefixes": [
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON"},
        {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "S3"},
    ],
    "ipv6_prefixes": [{"ipv6_prefix": "2406:daba::/40", "region": "x-1", "service": "EC2"}],
}
AZURE = {
    "values": [
        {"name": "AzureCloud", "properties": {"region": "", "addressPrefixes": ["20.0.0.0/8"]}},
        {
            "name": "Storage.WestUS",
            "properties": {
                "region": "westus",
                "systemService": "AzureStorage",
                "addressPrefixes": ["20.0.0.0/8", "20.60.0.0/16"],
            },
        },
    ]
}


@pytest.mark.parametrize(
    ("format", "document", "rows"),
    [
        (
            "aws-json",
            json.dumps(AWS),
            [("3.5.140.0/22", "S3", "ap-northeast-2"), ("2406:daba::/40", "EC2", "x-1")],
        ),
        (
            "google-json",
            '{"prefixes": [{"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", '
            '"scope": "africa-south1"}, {"ipv6Prefix": "2600:1900::/35"}]}',
            [("34.1.208.0/20", "Google_Cloud", "africa-south1"), ("2600:1900::/35", None, None)],
        ),
        (
            "azure-json",
            json.dumps(AZURE),
            # A regional or service tag of a prefix says more than AzureCloud alone.
            [("20.0.0.0/8", "AzureStorage", "westus"), ("20.60.0.0/16", "AzureStorage", "westus")],
        ),
        (
            "oracle-json",
            '{"regions": [{"region": "us-ashburn-1", "cidrs": [{"cidr": "129.80.0.0/16", '
            '"tags": ["OCI"]}]}]}',
            [("129.80.0.0/16", "OCI", "us-ashburn-1")],
        ),
        (
            "cloudflare-json",
            '{"result": {"ipv4_cidrs": ["173.245.48.0/20"], "ipv6_cidrs": [], '
            '"jdcloud_cidrs": ["27.0.0.0/24"]}}',
            [("173.245.48.0/20", None, None), ("27.0.0.0/24", "jdcloud", None)],
        ),
        (
            "fastly-json",
            '{"addresses": ["23.235.32.0/20"], "ipv6_addresses": ["2a04:4e40::/32"]}',
            [("23.235.32.0/20", None, None), ("2a04:4e40::/32", None, None)],
        ),
        (
            "github-json",
            '{"verifiable_password_authentication": false, "ssh_keys": ["ssh-ed25519 AAA"], '
            '"actions": ["4.148.0.0/16"], "hooks": ["192.30.252.0/22"], '
            '"domains": {"website": ["*.github.com"]}}',
            [("192.30.252.0/22", "hooks", None)],  # actions: whole Azure regions, left out
        ),
        (
            "geofeed-csv",
            "# comment\n5.101.96.0/21,NL,NL-NH,Amsterdam,1098 XH\n2600:3c00::/32,US,,,\n",
            [("5.101.96.0/21", None, "NL-NH"), ("2600:3c00::/32", None, "US")],
        ),
        (
            "cidr-text",
            "# source: x\n1.12.0.0/14\n\n192.0.2.0/24\n10.0.0.0/8\n2001:db8::/32\n1.1.1.1  # one\n",
            [("1.12.0.0/14", None, None), ("1.1.1.1/32", None, None)],
        ),
    ],
)
def test_convert(
    format: str, document: str, rows: list[tuple[str, str | None, str | None]]
) -> None:
    assert convert(format, document) == rows


@pytest.mark.parametrize(
    ("format", "document", "error"),
    [
        ("nope", "", "unknown format 'nope'"),
        ("cidr-text", "# nothing\n", "no prefixes"),
        ("cidr-text", "1.2.3/99\n", "not a network prefix"),
        ("aws-json", "{", "Expecting"),
    ],
)
def test_convert_errors(format: str, document: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        convert(format, document)


def test_rendered_snapshot_reads_back() -> None:
    header = {"name": "aws", "provider": "aws", "source": "https://a.example/", "snapshot": "d"}
    header["format"] = "aws-json"
    text = render(header, convert("aws-json", json.dumps(AWS)))
    problems: list[Problem] = []
    snap = parse_snapshot_text(text, "aws", "aws.txt", problems)
    assert problems == []
    assert snap is not None
    assert (snap.provider, snap.format, len(snap.spans)) == ("aws", "aws-json", 2)
    assert snap.spans[0][3:] == ("S3", "ap-northeast-2")
