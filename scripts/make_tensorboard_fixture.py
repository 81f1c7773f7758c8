#!/usr/bin/env python3
"""Writes Tests/Fixtures/tensorboard/events.out.tfevents.fixture with the `tensorboard`
package's own record writer and protos: the events the Swift test writes too (same wall times,
steps, tags and values), so that the two files must be equal byte for byte.

    .venv-peers/bin/pip install tensorboard
    .venv-peers/bin/python scripts/make_tensorboard_fixture.py
"""
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "tensorboard" / "events.out.tfevents.fixture"
# A 1x1 gray PNG (8-bit), as bytes.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
                    "0000000a49444154789c63600000000200015fcfb8e70000000049454e44ae426082")


def main():
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "wb") as f:
        writer = RecordWriter(f)
        writer.write(event_pb2.Event(wall_time=1764547200.5, file_version="brain.Event:2").SerializeToString())
        for step, loss, rate in [(1, 2.3125, 0.01), (2, 1.75, 0.005)]:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="step/loss", simple_value=loss),
                                                 summary_pb2.Summary.Value(tag="step/learning_rate", simple_value=rate)])
            writer.write(event_pb2.Event(wall_time=1764547201.25 + step, step=step, summary=summary).SerializeToString())
        image = summary_pb2.Summary.Image(height=1, width=1, colorspace=1, encoded_image_string=PNG)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="curves", image=image)])
        writer.write(event_pb2.Event(wall_time=1764547210.0, step=2, summary=summary).SerializeToString())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
