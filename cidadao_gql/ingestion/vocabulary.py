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
# What each product of CATEGORIES is bought as: (item description, unit, a typical unit
# price in reais, M(aterial) or S(ervice), how many units a purchase of it takes, relative
# to the generator's base). A procurement's items are its own product first, then others of
# its category: a fuel purchase buys litres of fuel, not ampoules.
CATALOGUE: dict[str, tuple[str, str, float, str, float]] = {
    "dipirona sódica": ("Dipirona sódica 500 mg, comprimido", "Comprimido", 0.12, "M", 40.0),
    "amoxicilina": ("Amoxicilina 500 mg, cápsula", "Cápsula", 0.35, "M", 30.0),
    "insulina NPH": ("Insulina humana NPH 100 UI/ml, frasco 10 ml", "Frasco", 24.0, "M", 2.0),
    "losartana potássica": ("Losartana potássica 50 mg, comprimido", "Comprimido", 0.09, "M", 40.0),
    "omeprazol": ("Omeprazol 20 mg, cápsula", "Cápsula", 0.11, "M", 40.0),
    "soro fisiológico": ("Cloreto de sódio 0,9 %, bolsa 500 ml", "Bolsa", 4.8, "M", 4.0),
    "luvas de procedimento": ("Luva de procedimento em látex, caixa com 100", "Caixa", 32.0, "M", 1.0),
    "seringas descartáveis": ("Seringa descartável 5 ml com agulha", "Unidade", 0.45, "M", 20.0),
    "gaze estéril": ("Compressa de gaze estéril 7,5 x 7,5 cm, pacote com 10", "Pacote", 1.9, "M", 5.0),
    "cateteres": ("Cateter intravenoso periférico 20G", "Unidade", 1.6, "M", 5.0),
    "máscaras cirúrgicas": ("Máscara cirúrgica descartável tripla, caixa com 50", "Caixa", 18.0, "M", 1.0),
    "merenda escolar": ("Arroz tipo 1, pacote 5 kg", "Pacote", 27.0, "M", 2.0),
    "hortifrutigranjeiros": ("Banana prata", "Quilograma", 6.5, "M", 3.0),
    "carnes e frios": ("Carne bovina moída de primeira", "Quilograma", 38.0, "M", 1.0),
    "leite e derivados": ("Leite integral UHT", "Litro", 5.2, "M", 5.0),
    "papel A4": ("Papel sulfite A4 75 g/m², resma com 500 folhas", "Resma", 26.0, "M", 0.5),
    "toner para impressoras": ("Cartucho de toner para impressora laser", "Unidade", 180.0, "M", 0.05),
    "material de escritório": ("Caneta esferográfica azul, caixa com 50", "Caixa", 35.0, "M", 0.1),
    "envelopes": ("Envelope pardo 240 x 340 mm", "Unidade", 0.6, "M", 3.0),
    "prédios públicos": ("Serviço de limpeza e conservação predial", "m²/mês", 9.5, "S", 10.0),
    "unidades de saúde": ("Serviço de limpeza hospitalar", "m²/mês", 14.0, "S", 5.0),
    "escolas municipais": ("Serviço de limpeza de unidades escolares", "m²/mês", 8.0, "S", 10.0),
    "frota municipal": ("Serviço de manutenção mecânica de veículos leves", "Hora", 120.0, "S", 1.0),
    "ambulâncias": ("Manutenção preventiva e corretiva de ambulâncias", "Hora", 140.0, "S", 0.5),
    "ônibus escolares": ("Manutenção de ônibus escolares", "Hora", 150.0, "S", 0.5),
    "gasolina comum": ("Gasolina comum", "Litro", 6.1, "M", 20.0),
    "óleo diesel S10": ("Óleo diesel S10", "Litro", 6.0, "M", 30.0),
    "etanol": ("Etanol hidratado", "Litro", 4.2, "M", 10.0),
    "vias urbanas": ("Pavimentação asfáltica em CBUQ de vias urbanas", "m²", 95.0, "S", 10.0),
    "estradas vicinais": ("Recuperação de estrada vicinal com cascalhamento", "km", 38000.0, "S", 0.02),
    "calçadas": ("Execução de calçada em concreto", "m²", 85.0, "S", 3.0),
    "máquinas pesadas": ("Locação de retroescavadeira com operador", "Hora", 210.0, "S", 2.0),
    "impressoras": ("Locação de impressora multifuncional com manutenção", "Mês", 320.0, "S", 0.2),
    "geradores": ("Locação de grupo gerador 150 kVA", "Diária", 900.0, "S", 0.1),
    "licenças de software": ("Licença de software de escritório, assinatura anual", "Licença", 450.0, "S", 0.3),
    "suporte técnico": ("Suporte técnico em informática", "Hora", 110.0, "S", 1.0),
    "hospedagem de sistemas": ("Hospedagem de sistemas em nuvem", "Mês", 2400.0, "S", 0.08),
    "cadeiras escolares": ("Conjunto escolar (carteira e cadeira) padrão FNDE", "Conjunto", 390.0, "M", 0.5),
    "mesas de escritório": ("Mesa de escritório em MDF 120 x 60 cm", "Unidade", 520.0, "M", 0.1),
    "armários": ("Armário de aço com 2 portas", "Unidade", 890.0, "M", 0.05),
    "patrimônio público": ("Vigilância armada 12 x 36 h, posto diurno", "Posto/mês", 9800.0, "S", 0.03),
    "unidades escolares": ("Vigilância desarmada 12 x 36 h, posto noturno", "Posto/mês", 8200.0, "S", 0.03),
}  # fmt: skip
CATALOGUE_CODES = {product: f"{410_000 + 37 * i}" for i, product in enumerate(CATALOGUE)}
MODALITIES = np.array([6, 8, 9, 4, 7, 12, 1])
MODALITY_WEIGHTS = np.array([0.45, 0.28, 0.10, 0.08, 0.04, 0.03, 0.02])


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


def product_bought(category: int, product: int, number: int) -> str:
    """The product of a procurement's item `number`: the one its object names, then the
    category's others in turn (a category of fewer products than items buys one in lots)."""
    products = CATEGORIES[category][1]
    return products[(product + number - 1) % len(products)]
