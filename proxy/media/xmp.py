"""The XMP packet: IPTC DataMining, PLUS licensor, xmpRights and TDMRep properties.

A packet the file already has is kept, with only our properties replaced, so
what a photographer or a DAM wrote stays. A packet that is not well-formed RDF
is refused (the file is skipped) rather than overwritten.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405  # expat resolves no external entities
from typing import NamedTuple

from proxy.media.terms import Terms

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
TDM = "http://www.w3.org/ns/tdmrep/"  # TDMRep's XMP namespace ("/", not "#")
XML_NS = "http://www.w3.org/XML/1998/namespace"
_PREFIXES = {
    "x": X,
    "rdf": RDF,
    "dc": DC,
    "plus": PLUS,
    "xmpRights": XMP_RIGHTS,
    "tdm": TDM,
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "dcterms": "http://purl.org/dc/terms/",
}
for _prefix, _uri in _PREFIXES.items():
    ET.register_namespace(_prefix, _uri)

MAX_PACKET = 1 << 20
_OURS = (
    f"{{{PLUS}}}DataMining",
    f"{{{PLUS}}}OtherConstraints",
    f"{{{PLUS}}}Licensor",
    f"{{{XMP_RIGHTS}}}Marked",
    f"{{{XMP_RIGHTS}}}WebStatement",
    f"{{{XMP_RIGHTS}}}UsageTerms",
    f"{{{TDM}}}reservation",
    f"{{{TDM}}}policy",
)
_RIGHTS = f"{{{DC}}}rights"
_DESCRIPTION = f"{{{RDF}}}Description"
_HEADER = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_TRAILER = '\n<?xpacket end="w"?>'


class Said(NamedTuple):
    """What a packet says about the reservation (None: it says nothing)."""

    data_mining: str | None
    tdm_reservation: str | None
    tdm_policy: str | None
    licensor_url: str | None
    web_statement: str | None
    usage_terms: str | None
    rights: str | None


def read(packet: bytes | None) -> Said:
    if not packet:
        return Said(None, None, None, None, None, None, None)
    root = _parse(packet)
    return Said(
        data_mining=_simple(root, f"{{{PLUS}}}DataMining"),
        tdm_reservation=_simple(root, f"{{{TDM}}}reservation"),
        tdm_policy=_simple(root, f"{{{TDM}}}policy"),
        licensor_url=_text(root.find(f".//{{{PLUS}}}LicensorURL")),
        web_statement=_simple(root, f"{{{XMP_RIGHTS}}}WebStatement"),
        usage_terms=_text(root.find(f".//{{{XMP_RIGHTS}}}UsageTerms//{{{RDF}}}li")),
        rights=_text(root.find(f".//{{{DC}}}rights//{{{RDF}}}li")),
    )


def agrees(said: Said, terms: Terms) -> bool:
    """Whether the packet already says exactly what `terms` would write."""
    return said == expected(terms, said.rights)


def expected(terms: Terms, rights: str | None) -> Said:
    return Said(
        data_mining=terms.data_mining,
        tdm_reservation="1" if terms.reserved else "0",
        tdm_policy=terms.tdm_policy,
        licensor_url=terms.licence_url,
        web_statement=terms.web_statement,
        usage_terms=terms.notice,
        rights=rights if rights else (f"\u00a9 {terms.owner}" if terms.owner else None),
    )


def write(packet: bytes | None, terms: Terms) -> bytes:
    """`packet` (or a new one) with our properties set to `terms`."""
    if packet:
        root = _parse(packet)
    else:
        root = ET.Element(f"{{{X}}}xmpmeta")
        ET.SubElement(ET.SubElement(root, f"{{{RDF}}}RDF"), _DESCRIPTION, {f"{{{RDF}}}about": ""})
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    if rdf is None:
        raise ValueError("XMP packet has no rdf:RDF element")
    descriptions = rdf.findall(_DESCRIPTION)
    if not descriptions:
        descriptions = [ET.SubElement(rdf, _DESCRIPTION, {f"{{{RDF}}}about": ""})]
    for description in descriptions:
        for name in _OURS:
            description.attrib.pop(name, None)
            for child in description.findall(name):
                description.remove(child)
    target = descriptions[0]
    has_rights = any(d.find(_RIGHTS) is not None or _RIGHTS in d.attrib for d in descriptions)
    if not has_rights and terms.owner:
        _lang_alt(target, _RIGHTS, f"\u00a9 {terms.owner}")
    _simple_element(target, f"{{{PLUS}}}DataMining", terms.data_mining)
    _lang_alt(target, f"{{{PLUS}}}OtherConstraints", terms.notice)
    if terms.licence_url:
        seq = ET.SubElement(ET.SubElement(target, f"{{{PLUS}}}Licensor"), f"{{{RDF}}}Seq")
        li = ET.SubElement(seq, f"{{{RDF}}}li", {f"{{{RDF}}}parseType": "Resource"})
        if terms.owner:
            _simple_element(li, f"{{{PLUS}}}LicensorName", terms.owner)
        _simple_element(li, f"{{{PLUS}}}LicensorURL", terms.licence_url)
    _simple_element(target, f"{{{XMP_RIGHTS}}}Marked", "True")
    if terms.web_statement:
        _simple_element(target, f"{{{XMP_RIGHTS}}}WebStatement", terms.web_statement)
    _lang_alt(target, f"{{{XMP_RIGHTS}}}UsageTerms", terms.notice)
    _simple_element(target, f"{{{TDM}}}reservation", "1" if terms.reserved else "0")
    if terms.tdm_policy:
        _simple_element(target, f"{{{TDM}}}policy", terms.tdm_policy)
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    return (_HEADER + body + _TRAILER).encode("utf-8")


def _parse(packet: bytes) -> ET.Element:
    if len(packet) > MAX_PACKET:
        raise ValueError(f"XMP packet of {len(packet)} bytes is over {MAX_PACKET}")
    try:
        root = ET.fromstring(packet)  # noqa: S314  # bounded; expat guards entity expansion
    except ET.ParseError as e:
        raise ValueError(f"XMP packet is not well-formed XML: {e}") from None
    if root.tag not in (f"{{{X}}}xmpmeta", f"{{{RDF}}}RDF"):
        raise ValueError(f"XMP packet's root is {root.tag!r}, not x:xmpmeta")
    return root


def _simple(root: ET.Element, name: str) -> str | None:
    for description in root.iter(_DESCRIPTION):
        if name in description.attrib:
            return description.attrib[name]
        found = description.find(name)
        if found is not None:
            return _text(found)
    return None


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _simple_element(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, name).text = text


def _lang_alt(parent: ET.Element, name: str, text: str) -> None:
    alt = ET.SubElement(ET.SubElement(parent, name), f"{{{RDF}}}Alt")
    ET.SubElement(alt, f"{{{RDF}}}li", {f"{{{XML_NS}}}lang": "x-default"}).text = text
