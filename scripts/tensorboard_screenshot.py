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
            browser.get(url + "?darkMode=false#timeseries" + (f"&tagFilter={args.filter}" if args.filter else ""))
            time.sleep(15)  # the dashboard fetches and draws every chart
            browser.save_screenshot(args.out)
            print(f"wrote {args.out}")
        finally:
            browser.quit()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
