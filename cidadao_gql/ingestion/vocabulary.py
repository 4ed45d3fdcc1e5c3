"""What the synthetic data set's names and texts are drawn from: states and their weights,
town, agency, company and person names, purchase categories and units, modalities."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

UFS = np.array(
    [
        "SP",
        "MG",
        "RJ",
        "BA",
        "PR",
        "RS",
        "PE",
        "CE",
        "PA",
        "SC",
        "MA",
        "GO",
        "AM",
        "ES",
        "PB",
        "RN",
        "MT",
        "AL",
        "PI",
        "DF",
        "MS",
        "SE",
        "RO",
        "TO",
        "AC",
        "AP",
        "RR",
    ]
)
UF_WEIGHTS = np.array([46, 21, 17, 15, 12, 11, 9.6, 9.2, 8.7, 7.6, 7.1, 7.1, 4.3, 4.1, 4.1, 3.5, 3.6,
                        3.4, 3.3, 3.1, 2.8, 2.3, 1.8, 1.6, 0.9, 0.9, 0.6])  # fmt: skip
TOWN_PREFIXES = ["São", "Santa", "Nova", "Porto", "Campo", "Vila", "Serra", "Rio", "Bom", "Alto"]
TOWN_STEMS = ["Esperança", "Alegre", "Verde", "Bonito", "Grande", "Dourado", "Azul", "Branco",
               "Formoso", "Claro", "Belo", "Novo", "Feliz", "Redondo", "Largo", "Seco"]  # fmt: skip
STATE_AREAS = ["SAÚDE", "EDUCAÇÃO", "SEGURANÇA PÚBLICA", "INFRAESTRUTURA", "FAZENDA", "CULTURA"]
FEDERAL = ["MINISTÉRIO DA SAÚDE", "UNIVERSIDADE FEDERAL", "INSTITUTO FEDERAL",
            "COMANDO DO EXÉRCITO", "DEPARTAMENTO NACIONAL DE INFRAESTRUTURA"]  # fmt: skip
COMPANY_WORDS = ["Alfa", "Brasil", "Central", "Delta", "Norte", "Sul", "Prime", "Global",
                  "União", "Vitória", "Atlântico", "Horizonte", "Nacional", "Real", "Líder",
                  "Master", "Tec", "Med", "Pharma", "Construtora", "Distribuidora", "Comercial"]  # fmt: skip
COMPANY_SUFFIXES = ["LTDA", "EIRELI", "S.A.", "ME", "EPP"]
FIRST_NAMES = ["Ana", "João", "Maria", "José", "Francisco", "Antônia", "Carlos", "Paulo",
                "Luiza", "Pedro", "Fernanda", "Lucas", "Juliana", "Marcos", "Patrícia"]  # fmt: skip
LAST_NAMES = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves",
               "Pereira", "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho"]  # fmt: skip
CATEGORIES: list[tuple[str, list[str]]] = [
    ("Aquisição de medicamentos", ["dipirona sódica", "amoxicilina", "insulina NPH",
                                   "losartana potássica", "omeprazol", "soro fisiológico"]),
    ("Aquisição de material hospitalar", ["luvas de procedimento", "seringas descartáveis",
                                          "gaze estéril", "cateteres", "máscaras cirúrgicas"]),
    ("Aquisição de gêneros alimentícios", ["merenda escolar", "hortifrutigranjeiros",
                                           "carnes e frios", "leite e derivados"]),
    ("Aquisição de material de expediente", ["papel A4", "toner para impressoras",
                                             "material de escritório", "envelopes"]),
    ("Contratação de serviços de limpeza", ["prédios públicos", "unidades de saúde",
                                            "escolas municipais"]),
    ("Manutenção de veículos", ["frota municipal", "ambulâncias", "ônibus escolares"]),
    ("Aquisição de combustíveis", ["gasolina comum", "óleo diesel S10", "etanol"]),
    ("Obras de pavimentação", ["vias urbanas", "estradas vicinais", "calçadas"]),
    ("Locação de equipamentos", ["máquinas pesadas", "impressoras", "geradores"]),
    ("Serviços de tecnologia da informação", ["licenças de software", "suporte técnico",
                                              "hospedagem de sistemas"]),
    ("Aquisição de mobiliário", ["cadeiras escolares", "mesas de escritório", "armários"]),
    ("Serviços de vigilância", ["patrimônio público", "unidades escolares"]),
]  # fmt: skip
DESTINATIONS = ["a Secretaria Municipal de Saúde", "a Secretaria de Educação",
                 "o Hospital Regional", "as Unidades Básicas de Saúde", "a Administração",
                 "a Secretaria de Obras", "o Fundo Municipal de Assistência Social"]  # fmt: skip
MODALITIES = np.array([6, 8, 9, 4, 7, 12, 1])
MODALITY_WEIGHTS = np.array([0.45, 0.28, 0.10, 0.08, 0.04, 0.03, 0.02])
CATALOG_UNITS = ["Comprimido", "Frasco", "Ampola", "Caixa", "Unidade", "Litro", "Quilograma"]


def object_texts(
    categories: npt.NDArray[np.int64],
    products: npt.NDArray[np.int64],
    destinations: npt.NDArray[np.int64],
) -> list[str]:
    """An object text for each (category, product, destination) drawn."""
    texts = []
    for c, p, d in zip(categories.tolist(), products.tolist(), destinations.tolist(), strict=True):
        verb, items = CATEGORIES[c]
        texts.append(f"{verb}: {items[p % len(items)]} para {DESTINATIONS[d]}")
    return texts
