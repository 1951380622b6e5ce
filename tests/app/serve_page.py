"""Drives the page of `ftune serve` (GET /) in headless Chromium through chromedriver: waits for
the model's description, types a text, presses the button, and waits for the answer the page
shows (the predicted label, or the translation). Prints that prediction as one JSON line, saves a screenshot. Run by serve_test.cpp:

    python3 serve_page.py http://127.0.0.1:PORT "a text" screenshot.png
"""
import json
import shutil
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def main():
    url, text, screenshot = sys.argv[1:4]
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=900,700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        model = driver.find_element(By.ID, "model").text
        box = driver.find_element(By.ID, "text")
        box.send_keys(text)
        driver.find_element(By.ID, "run").click()
        answer = "#output > .best, #translation"
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, answer)))
        wait.until(lambda d: d.find_element(By.ID, "meta").text != "")
        shown = driver.find_element(By.CSS_SELECTOR, answer).text
        bars = [row.find_element(By.CLASS_NAME, "name").text
                for row in driver.find_elements(By.CSS_SELECTOR, "#output .row")]
        driver.save_screenshot(screenshot)
        print(json.dumps({"model": model, "shown": shown, "bars": bars,
                          "error": driver.find_element(By.ID, "error").text}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
