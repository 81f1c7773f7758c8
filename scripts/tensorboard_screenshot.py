#!/usr/bin/env python3
"""Starts TensorBoard on a folder of our events files and saves a screenshot of its scalars
page from headless Chromium (the README's picture).

    .venv-browser/bin/python scripts/tensorboard_screenshot.py LOGDIR shot.png \
        [--tensorboard .venv-peers/bin/tensorboard] [--filter TAG_REGEX]
"""
import argparse
import socket
import subprocess
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


CLOSE_SETTINGS = """
for (const b of document.querySelectorAll('button[aria-label]'))
    if (/close/i.test(b.getAttribute('aria-label')) && b.offsetParent) b.click();
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir")
    parser.add_argument("out")
    parser.add_argument("--tensorboard", default=".venv-peers/bin/tensorboard")
    parser.add_argument("--filter", default="", help="tag filter typed into TensorBoard's search box")
    parser.add_argument("--size", default="1400,1000")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([args.tensorboard, "--logdir", args.logdir, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        options = Options()
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         f"--window-size={args.size}", "--hide-scrollbars"]:
            options.add_argument(argument)
        options.binary_location = "/usr/bin/chromium"
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            # TensorBoard reads the event files in the background: wait until it lists runs.
            for _ in range(60):
                runs = urllib.request.urlopen(url + "data/runs", timeout=5).read()
                if runs.strip() not in (b"[]", b""):
                    break
                time.sleep(1)
            browser.get(url + "#timeseries")
            time.sleep(8)
            # Close the settings pane, which a fresh browser profile shows.
            browser.execute_script(CLOSE_SETTINGS)
            if args.filter:
                box = browser.find_element(By.CSS_SELECTOR, "input[placeholder*='Filter tags']")
                box.send_keys(args.filter)
                box.send_keys(Keys.ESCAPE)  # the list of matching tags would hide the charts
                browser.execute_script("document.activeElement.blur()")
            time.sleep(10)  # the dashboard fetches and draws every chart
            browser.save_screenshot(args.out)
            print(f"wrote {args.out}")
        finally:
            browser.quit()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
