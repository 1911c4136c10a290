"""A printable pick list (reportlab): one row per line in box and location order, with a
thumbnail of the part's cover where it has one and a box to tick."""

from __future__ import annotations

import io
import logging
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.plugin_api import ApiError, thumbnail_jpeg

log = logging.getLogger("partsbin.pick_lists")

#: Thumbnail edge in pixels (rendered once and shared with ``/api/cas`` thumbnails).
THUMBNAIL_PIXELS = 96
_THUMBNAIL_SIDE = 12 * mm


def _thumbnail(cover_url: str | None) -> Any:
    if not cover_url:
        return ""
    sha256 = cover_url.rsplit("/", 1)[-1].split("?", 1)[0]
    try:
        data = thumbnail_jpeg(sha256, THUMBNAIL_PIXELS)
    except ApiError as exc:  # an unreadable cover must not cost the whole list
        log.warning("pick list thumbnail skipped", extra={"sha256": sha256, "reason": exc.message})
        return ""
    image = Image(io.BytesIO(data))
    scale = _THUMBNAIL_SIDE / max(image.imageWidth, image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return image


def render(detail: dict[str, Any]) -> bytes:
    """The PDF of a pick list detail (as :func:`plugins.pick_lists.views.detail_json` gives)."""
    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"Pick list {detail['id']}: {detail['kit_name']}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    header = [["", "Box", "Loc", "Part", "Description", "Qty", "Picked"]]
    rows = [
        [
            _thumbnail(line["kit_content"]["cover_url"]),
            Paragraph(
                f"{line['location']['box_no']}<br/><font size=7>"
                f"{escape(line['location']['box_description'])}</font>",
                cell,
            ),
            str(line["location"]["loc_no"]),
            Paragraph(f"<b>{escape(line['kit_content']['part_key'])}</b>", cell),
            Paragraph(escape(line["kit_content"]["part_description"] or ""), cell),
            str(line["quantity_to_pick"]),
            "[x]" if line["status"] == "completed" else "[  ]",
        ]
        for line in detail["lines"]
    ]
    table = Table(
        header + rows,
        colWidths=[16 * mm, 28 * mm, 12 * mm, 18 * mm, 80 * mm, 14 * mm, 14 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (5, 1), (6, -1), "CENTER"),
            ]
        )
    )
    story = [
        Paragraph(f"Pick list {detail['id']}: {escape(detail['kit_name'])}", styles["Title"]),
        Paragraph(
            f"{detail['requested_units']} unit(s), {detail['line_count']} line(s), "
            f"{detail['total_quantity_to_pick']} part(s) to pick; status {detail['status']}",
            cell,
        ),
        Spacer(1, 6 * mm),
        table,
    ]
    document.build(story)
    return out.getvalue()
