// Makes the demo images in samples/ from SVG drawn here (deterministic, no third-party pictures),
// so their licence is the project's own. Run: node scripts/make-samples.mjs
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'samples');
mkdirSync(out, { recursive: true });

const scenes = [
  { name: 'lake-at-dawn', w: 800, h: 600, sky: ['#f9d29d', '#ffd8cb'], ground: '#3b6e8f', sun: '#ffef99' },
  { name: 'mountain-range', w: 1024, h: 640, sky: ['#6fa8dc', '#cfe2f3'], ground: '#5b4636', peaks: true },
  { name: 'forest-edge', w: 640, h: 640, sky: ['#b6d7a8', '#d9ead3'], ground: '#274e13', trees: 14 },
  { name: 'seashore', w: 1200, h: 500, sky: ['#9fc5e8', '#ffffff'], ground: '#e6c88f', waves: true },
  { name: 'duck-pond', w: 448, h: 448, sky: ['#a2c4c9', '#d0e0e3'], ground: '#38761d', ducks: 5 },
  { name: 'goose-field', w: 900, h: 675, sky: ['#fce5cd', '#fff2cc'], ground: '#6aa84f', ducks: 2 },
  { name: 'night-sky', w: 700, h: 500, sky: ['#0b1d3a', '#20124d'], ground: '#0c343d', sun: '#eeeeee' },
  { name: 'storm', w: 1600, h: 1200, sky: ['#434343', '#999999'], ground: '#274e13', peaks: true },
];

function svg(s) {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${s.w}" height="${s.h}">`,
    `<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${s.sky[0]}"/><stop offset="1" stop-color="${s.sky[1]}"/></linearGradient></defs>`,
    `<rect width="${s.w}" height="${s.h}" fill="url(#g)"/>`,
  ];
  if (s.sun) parts.push(`<circle cx="${s.w * 0.7}" cy="${s.h * 0.3}" r="${s.h * 0.1}" fill="${s.sun}"/>`);
  if (s.peaks) {
    for (let i = 0; i < 5; i++) {
      const x = (i / 4) * s.w;
      parts.push(
        `<polygon points="${x - s.w * 0.25},${s.h * 0.7} ${x},${s.h * (0.2 + 0.1 * (i % 2))} ${x + s.w * 0.25},${s.h * 0.7}" fill="#${(0x556677 + i * 0x111111).toString(16).slice(0, 6)}"/>`,
      );
    }
  }
  parts.push(`<rect y="${s.h * 0.65}" width="${s.w}" height="${s.h * 0.35}" fill="${s.ground}"/>`);
  for (let i = 0; i < (s.trees ?? 0); i++) {
    const x = ((i + 0.5) / s.trees) * s.w;
    parts.push(
      `<polygon points="${x - 25},${s.h * 0.7} ${x},${s.h * (0.3 + 0.03 * (i % 4))} ${x + 25},${s.h * 0.7}" fill="#1e${(40 + i * 9).toString(16)}20"/>`,
    );
  }
  if (s.waves) {
    for (let i = 0; i < 6; i++)
      parts.push(
        `<path d="M0 ${s.h * (0.55 + i * 0.02)} Q ${s.w / 4} ${s.h * (0.5 + i * 0.02)} ${s.w / 2} ${s.h * (0.55 + i * 0.02)} T ${s.w} ${s.h * (0.55 + i * 0.02)}" stroke="#0b5394" stroke-width="4" fill="none"/>`,
      );
  }
  for (let i = 0; i < (s.ducks ?? 0); i++) {
    const x = s.w * (0.15 + 0.17 * i),
      y = s.h * (0.78 + 0.03 * (i % 2));
    parts.push(
      `<ellipse cx="${x}" cy="${y}" rx="${s.w * 0.05}" ry="${s.h * 0.03}" fill="#f1c232"/><circle cx="${x + s.w * 0.04}" cy="${y - s.h * 0.04}" r="${s.h * 0.02}" fill="#7f6000"/>`,
    );
  }
  parts.push('</svg>');
  return Buffer.from(parts.join(''));
}

const formats = ['jpeg', 'png', 'webp', 'jpeg', 'png', 'tiff', 'jpeg', 'jpeg'];
const ext = { jpeg: 'jpg', png: 'png', webp: 'webp', tiff: 'tiff' };
for (const [i, scene] of scenes.entries()) {
  const f = formats[i];
  const file = join(out, `${scene.name}.${ext[f]}`);
  await sharp(svg(scene))
    .toFormat(f, f === 'jpeg' ? { quality: 85 } : {})
    .toFile(file);
  console.log(file);
}
