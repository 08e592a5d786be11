"""Invented web pages and e-mails for the HTML and e-mail loaders' tests, built in memory as bytes.

The good files carry facts a test can ask for (the canteen's opening hours, the plumbing contractor);
the hostile ones are the shapes that must fail quickly with a reason: a 50 MB page, a message
nested 100 deep, a body of 10,000 parts. Nothing here touches the disk or the network.
"""
from __future__ import annotations

import io
from email.message import EmailMessage

SENDER = "Facilities Desk <facilities@harrowgate.example>"
STAFF = "All staff <all-staff@harrowgate.example>"
DATE = "Mon, 10 Mar 2025 09:15:00 +0100"

# Boilerplate of the intranet page: none of it may reach the store.
NAV_ITEMS = ["Staff directory", "Room booking", "Expense claims", "IT helpdesk"]
COOKIE_TEXT = "We use cookies to remember your display preferences. Accept all cookies"
FOOTER_ADDRESS = "Harbour Lane 12, 4006 Stavanger"
HEADER_TAGLINE = "Your workplace, one click away"
SCRIPT_SECRET = "ZEBRA-9931"

CANTEEN = "The Quayside canteen serves lunch from 11:30 to 14:00 on weekdays."
BICYCLES = "Covered bicycle parking for 60 bikes opened behind Building D."
SHUTDOWN = ("Water will be shut off in Building C on 14 March from 08:00 to 12:00. "
            "Use the kitchens in Building A during the works.")
CONTRACTOR = "The plumbing contractor for the works is Brekke Rør AS, phone 5550 1234."


def intranet_html() -> bytes:
    """A saved intranet news page: menu, cookie banner, header, footer, style and script around one article."""
    nav = "\n".join(f'      <li><a href="/{item.lower().replace(" ", "-")}">{item}</a></li>' for item in NAV_ITEMS)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Facilities news - Harrowgate Intranet</title>
  <link rel="stylesheet" href="https://intranet.harrowgate.example/static/site.css">
  <style>
    body {{ font-family: sans-serif; }}
    .cookie-banner {{ position: fixed; bottom: 0; }}
  </style>
  <script>
    var staffShopDiscountCode = "{SCRIPT_SECRET}";
    window.dataLayer = window.dataLayer || [];
  </script>
</head>
<body>
  <div id="cookie-consent" class="cookie-banner" role="dialog">
    <p>{COOKIE_TEXT}</p>
    <button>Accept</button> <button>Settings</button>
  </div>
  <header class="site-header">
    <a class="logo" href="/">Harrowgate Intranet</a>
    <p class="tagline">{HEADER_TAGLINE}</p>
    <form action="/search"><input name="q" placeholder="Search"></form>
  </header>
  <nav class="main-menu">
    <ul>
{nav}
    </ul>
  </nav>
  <main>
    <article>
      <h1>Facilities news</h1>
      <p class="byline">Published 3 March 2025 by the Facilities team</p>
      <p>This page collects the changes to our buildings and services this spring. We update it whenever
      something affects how you get to work, where you eat or where you can leave your bike.</p>
      <h2>Canteen</h2>
      <p>{CANTEEN}</p>
      <p>The menu changes every Monday and always includes a vegetarian dish and a soup. Coffee and fruit
      are free at the counter for the whole day, and the salad bar is restocked at noon.</p>
      <p>If you have a food allergy, tell the kitchen staff before you order; the full list of
      ingredients for every dish is kept in the blue folder next to the tills.</p>
      <h2>Bicycles</h2>
      <p>{BICYCLES}</p>
      <p>The new shelter has a pump, a repair stand and sockets for charging electric bikes. Your access
      card opens the gate between 06:00 and 22:00; outside these hours please use the racks by reception.</p>
      <p>Bikes left for more than two weeks without moving will be labelled, and removed a month later if
      nobody claims them.</p>
    </article>
  </main>
  <aside class="related">
    <h3>Related pages</h3>
    <ul><li><a href="/parking">Car parking rules</a></li><li><a href="/lost-property">Lost property</a></li></ul>
  </aside>
  <footer class="site-footer">
    <p>Harrowgate Estates AS, {FOOTER_ADDRESS}</p>
    <p>Questions about this site? Write to the intranet editors.</p>
  </footer>
  <script src="https://intranet.harrowgate.example/static/analytics.js"></script>
</body>
</html>
"""
    return page.encode("utf-8")


def _contractors_pdf() -> bytes:
    """One A4 page with the contractor's name; invariant, so the same bytes every time."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=1)
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(72, 770, "Building C water works - contractors")
    canvas.setFont("Helvetica", 11)
    canvas.drawString(72, 740, CONTRACTOR)
    canvas.drawString(72, 722, "The site manager is on call during the shutdown.")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def notice_eml() -> bytes:
    """A notice from the facilities desk with a PDF attachment and an image the loader cannot read."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = STAFF
    message["Date"] = DATE
    message["Subject"] = "Water shutdown in Building C"
    message["Message-ID"] = "<water-shutdown-2025@harrowgate.example>"
    message.set_content(SHUTDOWN + "\n")
    message.add_attachment(_contractors_pdf(), maintype="application", subtype="pdf", filename="contractors.pdf")
    # The smallest valid GIF: a 1x1 transparent pixel.
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    message.add_attachment(gif, maintype="image", subtype="gif", filename="logo.gif")
    message.set_boundary("harrowgate-notice-0310")  # the generator's is random: the same bytes every time
    return message.as_bytes()


def huge_html() -> bytes:
    """A 50 MB page: over the size cap."""
    paragraph = b"<p>Minutes of the weekly facilities meeting, item after item, repeated at length.</p>\n"
    return b"<!DOCTYPE html>\n<html><body>\n" + paragraph * (50 * 2**20 // len(paragraph)) + b"</body></html>\n"


def deeply_nested_eml(levels: int = 100) -> bytes:
    """A message forwarded as an attachment of a message, `levels` deep (message/rfc822 inside message/rfc822)."""
    message = (f"From: {SENDER}\nTo: {STAFF}\nDate: {DATE}\nSubject: The original\n\n"
               "The innermost message.\n").encode()
    for level in range(levels):
        message = (f"From: {SENDER}\nTo: {STAFF}\nDate: {DATE}\nSubject: Fwd {level + 1}\nMIME-Version: 1.0\n"
                   "Content-Type: message/rfc822\n\n").encode() + message
    return message


def many_parts_eml(parts: int = 10_000) -> bytes:
    """A multipart/mixed body of `parts` tiny text parts."""
    boundary = "part-boundary-0042"
    head = (f"From: {SENDER}\nTo: {STAFF}\nDate: {DATE}\nSubject: Many parts\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n')
    body = "".join(f"--{boundary}\nContent-Type: text/plain\n\nPart {number}.\n" for number in range(parts))
    return (head + body + f"--{boundary}--\n").encode()
