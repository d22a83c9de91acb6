"""Reference data: the 12 kecamatan of Kota Batam, job categories and SKK jabatan kerja.

Kept in one module so the seed migration and the tests read the same lists. The Dinas edits
categories and skills later with `sijakon-admin catalog`. The electrical, plumbing and welding
jabatan-kerja codes below follow LPJK's pattern but must be confirmed by the Dinas against the
national register (the SI0130xx building-trade codes come from the issue).
"""

from __future__ import annotations

# BPS codes 217101-217112, with the kecamatan that share a border or a short crossing.
KECAMATAN: list[tuple[str, str, list[str]]] = [
    ("217101", "Belakang Padang", ["217103"]),
    ("217102", "Batu Ampar", ["217106", "217109", "217110", "217103"]),
    ("217103", "Sekupang", ["217102", "217112", "217111", "217101", "217110"]),
    ("217104", "Nongsa", ["217110", "217109", "217107"]),
    ("217105", "Bulang", ["217111", "217108", "217112"]),
    ("217106", "Lubuk Baja", ["217102", "217109", "217110"]),
    ("217107", "Sei Beduk", ["217104", "217110", "217111", "217108"]),
    ("217108", "Galang", ["217107", "217105"]),
    ("217109", "Bengkong", ["217102", "217106", "217110", "217104"]),
    ("217110", "Batam Kota", ["217106", "217109", "217104", "217107", "217103", "217102"]),
    ("217111", "Sagulung", ["217112", "217107", "217103", "217105"]),
    ("217112", "Batu Aji", ["217103", "217111", "217105"]),
]

CATEGORIES: list[tuple[str, str]] = [
    ("renovasi", "Renovasi rumah"),
    ("atap", "Perbaikan atap/genteng"),
    ("plafon", "Pasang plafon"),
    ("listrik", "Instalasi listrik"),
    ("pipa", "Pipa dan sanitasi"),
    ("cat", "Pengecatan"),
    ("keramik", "Pasang keramik/ubin"),
    ("bata", "Pasang bata/plester"),
    ("kayu", "Pekerjaan kayu"),
    ("las", "Las dan kanopi"),
    ("baja-ringan", "Baja ringan"),
    ("waterproofing", "Waterproofing"),
    ("lainnya", "Lainnya"),
]

# (code, name, category slugs it serves)
SKILLS: list[tuple[str, str, list[str]]] = [
    ("SI013001", "Tukang Cat Bangunan Gedung", ["cat", "renovasi", "lainnya"]),
    ("SI013002", "Tukang Plester", ["bata", "renovasi", "lainnya"]),
    ("SI013003", "Tukang Pasang Ubin", ["keramik", "renovasi", "lainnya"]),
    ("SI013013", "Tukang Pasang Bata", ["bata", "renovasi", "lainnya"]),
    ("SI013015", "Tukang Kayu", ["kayu", "plafon", "atap", "renovasi", "lainnya"]),
    ("SI013017", "Tukang Besi Beton", ["renovasi", "las", "lainnya"]),
    ("SI013026", "Tukang Bangunan Gedung", ["renovasi", "bata", "keramik", "plafon", "atap",
                                           "cat", "lainnya"]),
    ("SI013027", "Tukang Pasang Rangka Atap Baja Ringan", ["baja-ringan", "atap", "lainnya"]),
    ("SI013029", "Tukang Pasang Water Proofing", ["waterproofing", "atap", "lainnya"]),
    ("ME011001", "Tukang Listrik Bangunan Gedung", ["listrik", "lainnya"]),
    ("ME012001", "Tukang Pipa Air (Plumber)", ["pipa", "lainnya"]),
    ("ME013001", "Tukang Las Konstruksi", ["las", "lainnya"]),
]
