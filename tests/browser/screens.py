"""The phone screen the pages are held to, shared by the browser tests."""

from __future__ import annotations

from playwright.async_api import Page, ViewportSize

PHONE = ViewportSize(width=360, height=740)


async def no_horizontal_scroll(page: Page) -> None:
    """The page fits a 360 px screen once it has loaded.

    A link's click returns before the next page's stylesheet applies; measured then, an
    unstyled form is wider than the styled one, so the measure waits for the load event.
    """
    await page.wait_for_load_state("load")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a 360px screen"
