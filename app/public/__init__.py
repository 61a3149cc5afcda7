"""The public status page and its CAP feed: what citizens, media and the national warning platform see.

One runner renders the page (English and Chinese) and the Atom feed of CAP 1.2 warnings every few
seconds under a lease (``job``); the web serves the stored bytes from a per-worker copy
(``served``). ``content`` and ``services`` read what may be shown (warnings, public incidents,
transit disruptions, water problems by zone) as plain values without ids or names of people;
``page`` and ``atom`` (with ``cap``) write them. docs/public.md tells the whole.
"""
