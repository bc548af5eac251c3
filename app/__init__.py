"""SketchFind desktop app (PySide6). The Qt-free engine lives in fgsbir_core.

PySide6-Essentials is pinned to 6.11.2: 6.12.0 on CPython 3.11 drops a reference to None on
every Qt call that returns void and aborts the process after a few thousand of them
(tests/test_app_cli.py::test_many_void_qt_calls_do_not_abort guards this).
"""
